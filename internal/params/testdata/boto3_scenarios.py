"""Drives jetway's embedded parameter store with boto3, as chamber, the
Terraform AWS provider and a boto3 script call it. Run by boto3_test.go with
JETWAY_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set; exits
non-zero with the failed check's message."""

import os
import sys

import boto3
from botocore.exceptions import ClientError

endpoint = os.environ["JETWAY_ENDPOINT"]
ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def tags(lst):
    return {t["Key"]: t["Value"] for t in lst}


def chamber():
    # chamber write: put with overwrite, then tag; chamber read: history and
    # get; chamber list: describe by path with a filter; chamber delete.
    for key, value in [("db_password", "pw1"), ("api_key", "k1"), ("db_password", "pw2")]:
        ssm.put_parameter(Name="/myservice/" + key, Value=value, Type="SecureString",
                          KeyId="alias/aws/ssm", Overwrite=True, Description="chamber")
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/myservice/db_password",
                             Tags=[{"Key": "owner", "Value": "chamber"}])
    hist = ssm.get_parameter_history(Name="/myservice/db_password", WithDecryption=True)["Parameters"]
    check([p["Value"] for p in hist] == ["pw1", "pw2"], "chamber history %r" % hist)
    got = ssm.get_parameter(Name="/myservice/db_password", WithDecryption=True)["Parameter"]
    check(got["Value"] == "pw2" and got["Version"] == 2, "chamber read %r" % got)
    names = []
    for page in ssm.get_paginator("describe_parameters").paginate(
            ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": ["/myservice"]}],
            PaginationConfig={"PageSize": 1}):
        names += [p["Name"] for p in page["Parameters"]]
    check(names == ["/myservice/api_key", "/myservice/db_password"], "chamber list %r" % names)
    byp = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path="/myservice", WithDecryption=True, PaginationConfig={"PageSize": 1}):
        byp += [(p["Name"], p["Value"]) for p in page["Parameters"]]
    check(byp == [("/myservice/api_key", "k1"), ("/myservice/db_password", "pw2")], "chamber export %r" % byp)
    ssm.delete_parameter(Name="/myservice/api_key")
    check(code(ssm.get_parameter, Name="/myservice/api_key") == "ParameterNotFound", "chamber delete")


def terraform():
    # aws_ssm_parameter: create with tags, read back (get, describe by name,
    # tags), overwrite in place, tags updated apart, destroy.
    name = "/tf/app/url"
    out = ssm.put_parameter(Name=name, Value="https://a", Type="String", Tier="Standard",
                            DataType="text", AllowedPattern="^https://.*",
                            Tags=[{"Key": "env", "Value": "dev"}, {"Key": "managed", "Value": "terraform"}])
    check(out["Version"] == 1 and out["Tier"] == "Standard", "tf create %r" % out)
    got = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    check(got["Value"] == "https://a" and got["DataType"] == "text", "tf read %r" % got)
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
    check(len(meta) == 1 and meta[0]["AllowedPattern"] == "^https://.*" and meta[0]["Tier"] == "Standard", "tf describe %r" % meta)
    check(tags(ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]) ==
          {"env": "dev", "managed": "terraform"}, "tf tags")
    check(code(ssm.put_parameter, Name=name, Value="ftp://b", Type="String", Overwrite=True) ==
          "ParameterPatternMismatchException", "tf AllowedPattern")
    out = ssm.put_parameter(Name=name, Value="https://b", Type="String", Overwrite=True)
    check(out["Version"] == 2, "tf update %r" % out)
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["env"])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "env", "Value": "prod"}])
    check(tags(ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]) ==
          {"env": "prod", "managed": "terraform"}, "tf tags updated")
    by = ssm.get_parameters_by_path(Path="/tf", Recursive=True,
                                    ParameterFilters=[{"Key": "Type", "Option": "Equals", "Values": ["String"]}])["Parameters"]
    check([p["Name"] for p in by] == [name], "tf by path %r" % by)
    ssm.delete_parameter(Name=name)
    check(code(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId=name) == "InvalidResourceId", "tf destroyed")

    # aws_secretsmanager_secret + _version: create without a value with
    # tags, describe, put a version, read, update the description, list by
    # tag, delete with force.
    sec = sm.create_secret(Name="tf/db", Description="db", Tags=[{"Key": "env", "Value": "dev"}])
    check("VersionId" not in sec, "tf secret without a value %r" % sec)
    d = sm.describe_secret(SecretId=sec["ARN"])
    check(d["Name"] == "tf/db" and tags(d["Tags"]) == {"env": "dev"}, "tf describe secret %r" % d)
    v = sm.put_secret_value(SecretId=sec["ARN"], SecretString='{"password":"p"}')
    check(v["VersionStages"] == ["AWSCURRENT"], "tf put secret %r" % v)
    again = sm.put_secret_value(SecretId=sec["ARN"], SecretString='{"password":"p"}', ClientRequestToken=v["VersionId"])
    check(again["VersionId"] == v["VersionId"], "tf put retried")
    got = sm.get_secret_value(SecretId="tf/db")
    check(got["SecretString"] == '{"password":"p"}' and got["VersionStages"] == ["AWSCURRENT"], "tf read secret %r" % got)
    sm.update_secret(SecretId="tf/db", Description="database")
    sm.tag_resource(SecretId="tf/db", Tags=[{"Key": "team", "Value": "core"}])
    listed = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["team"]}])["SecretList"]
    check([s["Name"] for s in listed] == ["tf/db"] and listed[0]["Description"] == "database" and
          tags(listed[0]["Tags"]) == {"env": "dev", "team": "core"}, "tf list secrets %r" % listed)
    sm.delete_secret(SecretId="tf/db", ForceDeleteWithoutRecovery=True)
    check(code(sm.describe_secret, SecretId="tf/db") == "ResourceNotFoundException", "tf secret destroyed")


def script():
    # What a boto3 script trips over first: errors, selectors, pagination.
    ssm.put_parameter(Name="/s/a", Value="1", Type="String")
    ssm.put_parameter(Name="/s/a", Value="2", Type="String", Overwrite=True)
    ssm.label_parameter_version(Name="/s/a", ParameterVersion=1, Labels=["old"])
    got = ssm.get_parameters(Names=["/s/a:old", "/s/a:2", "/s/none"])
    check([(p["Value"], p.get("Selector")) for p in got["Parameters"]] == [("1", ":old"), ("2", ":2")] and
          got["InvalidParameters"] == ["/s/none"], "selectors %r" % got)
    check(code(ssm.put_parameter, Name="/s/big", Value="x" * 5000, Type="String") == "ValidationException", "4 KB")
    check(code(ssm.describe_parameters, ParameterFilters=[{"Key": "Bogus", "Values": ["x"]}]) == "ValidationException", "bad filter")
    check(code(ssm.describe_parameters, ParameterFilters=[{"Key": "Type", "Option": "BeginsWith", "Values": ["S"]}]) ==
          "InvalidFilterOption", "bad option")
    for i in range(12):
        sm.create_secret(Name="s/%02d" % i, SecretString="v%d" % i)
    names = []
    for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": ["s/"]}],
                                                          PaginationConfig={"PageSize": 5}):
        check(len(page["SecretList"]) <= 5, "page size")
        names += [s["Name"] for s in page["SecretList"]]
    check(names == ["s/%02d" % i for i in range(12)], "list_secrets pages %r" % names)
    sm.delete_secret(SecretId="s/00")
    check(code(sm.delete_secret, SecretId="s/00") == "InvalidRequestException", "second delete")
    check(code(sm.delete_secret, SecretId="s/01", RecoveryWindowInDays=0) == "InvalidParameterException", "window 0")
    check(sm.delete_secret(SecretId="never", ForceDeleteWithoutRecovery=True)["Name"] == "never", "force on missing")
    sm.restore_secret(SecretId="s/00")
    check(sm.get_secret_value(SecretId="s/00")["SecretString"] == "v0", "restored")
    pw = sm.get_random_password(PasswordLength=20, ExcludePunctuation=True)["RandomPassword"]
    check(len(pw) == 20 and pw.isalnum(), "random password %r" % pw)
    check(code(sm.rotate_secret, SecretId="s/00") == "UnknownOperationException", "unknown operation")


chamber()
terraform()
script()
print("ok")
