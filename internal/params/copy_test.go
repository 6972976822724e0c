package params

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// jetway server migrate: an SQLite data dir's parameters and secrets
// copied into PostgreSQL, still sealed.
func TestCopyStoreSQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src := newTestServer(t, "sqlite")
	const plain = "copied-secure-plaintext-5150"
	put(t, src.adminSSM(), "/dev/USER", "String", "deploybot", false)
	put(t, src.adminSSM(), "/dev/KEY", "SecureString", plain+"-v1", false)
	put(t, src.adminSSM(), "/dev/KEY", "SecureString", plain, true)
	sm := src.adminSM()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("old-" + plain)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("new-" + plain)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("gone"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	// What came with the AWS API's fuller surface: tier, data type,
	// pattern, tags and labels of a parameter; tags and a staging label of
	// a secret.
	if _, err := src.adminSSM().PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/dev/TAGGED"), Type: ssmtypes.ParameterTypeString, Value: aws.String("v-1"),
		Tier: ssmtypes.ParameterTierAdvanced, DataType: aws.String("text"), AllowedPattern: aws.String("^v-[0-9]+$"),
		Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("shop")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.adminSSM().LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/dev/TAGGED"), Labels: []string{"live"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("prod/db"), Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String("dba")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("staged-" + plain), VersionStages: []string{"STAGING"}}); err != nil {
		t.Fatal(err)
	}
	srcKey := filepath.Join(src.DataDir, "master.key")

	t.Run("needs the same master key", func(t *testing.T) {
		other := newTestServer(t, "postgres")
		if _, err := CopyStore(ctx, src.Store, other.Store); !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("CopyStore with another key: %v", err)
		}
	})

	t.Run("a target with other values is left as it was", func(t *testing.T) {
		dst := newReplica(t, openPostgres(t, pg.DB(t)), srcKey, newRunSet())
		put(t, dst.adminSSM(), "/dev/KEY", "SecureString", "something else", false)
		_, err := CopyStore(ctx, src.Store, dst.Store)
		if !errors.Is(err, ErrCopyConflict) {
			t.Fatalf("CopyStore onto a conflicting value: %v", err)
		}
		if _, err := dst.Store.GetParameter(ctx, "/dev/USER", false); err == nil {
			t.Fatal("a refused copy left /dev/USER in the target")
		}
	})

	dst := newReplica(t, openPostgres(t, pg.DB(t)), srcKey, newRunSet())
	stats, err := CopyStore(ctx, src.Store, dst.Store)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CopyStats{ParameterVersions: 4, Secrets: 3, SecretVersions: 5}); stats != want {
		t.Fatalf("copied %+v, want %+v", stats, want)
	}
	// Again: nothing left to copy, and no error.
	if stats, err := CopyStore(ctx, src.Store, dst.Store); err != nil || stats != (CopyStats{}) {
		t.Fatalf("a second copy: %+v, %v", stats, err)
	}

	// Everything reads the same through the target's API.
	for _, name := range []string{"/dev/USER", "/dev/KEY", "/dev/TAGGED"} {
		in := &ssm.GetParameterHistoryInput{Name: aws.String(name), WithDecryption: aws.Bool(true)}
		want, err := src.adminSSM().GetParameterHistory(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.adminSSM().GetParameterHistory(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Parameters, want.Parameters) {
			t.Errorf("%s history: %+v, want %+v", name, got.Parameters, want.Parameters)
		}
	}
	got, err := dst.adminSSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/KEY"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(got.Parameter.Value) != plain {
		t.Fatalf("/dev/KEY in the target: %v", err)
	}
	dsm := dst.adminSM()
	for stage, want := range map[string]string{"AWSCURRENT": "new-" + plain, "AWSPREVIOUS": "old-" + plain} {
		sec, err := dsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionStage: aws.String(stage)})
		if err != nil || aws.ToString(sec.SecretString) != want {
			t.Errorf("prod/db %s: %v", stage, err)
		}
	}
	if sec, err := dsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")}); err != nil || !bytes.Equal(sec.SecretBinary, []byte{0, 1, 2}) {
		t.Errorf("bin: %v", err)
	}
	if _, err := dsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gone")}); errorCode(err) != "InvalidRequestException" {
		t.Errorf("a secret marked for deletion: %v", err)
	}
	for _, c := range []*ssm.Client{src.adminSSM(), dst.adminSSM()} {
		desc, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"/dev/TAGGED"}}}})
		if err != nil || len(desc.Parameters) != 1 || desc.Parameters[0].Tier != ssmtypes.ParameterTierAdvanced || aws.ToString(desc.Parameters[0].DataType) != "text" ||
			aws.ToString(desc.Parameters[0].AllowedPattern) != "^v-[0-9]+$" {
			t.Errorf("/dev/TAGGED described: %+v %v", desc, err)
		}
		tags, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/dev/TAGGED")})
		if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "team" || aws.ToString(tags.TagList[0].Value) != "shop" {
			t.Errorf("/dev/TAGGED tags: %+v %v", tags, err)
		}
		labelled, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/TAGGED:live")})
		if err != nil || aws.ToString(labelled.Parameter.Value) != "v-1" {
			t.Errorf("/dev/TAGGED:live: %v", err)
		}
	}
	secret, err := dsm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db")})
	if err != nil || len(secret.Tags) != 1 || aws.ToString(secret.Tags[0].Key) != "owner" {
		t.Errorf("prod/db described in the target: %+v %v", secret, err)
	}
	if sec, err := dsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionStage: aws.String("STAGING")}); err != nil || aws.ToString(sec.SecretString) != "staged-"+plain {
		t.Errorf("prod/db STAGING in the target: %v", err)
	}
	if cells := dbCells(t, dst.DB); bytes.Contains(cells, []byte(plain)) {
		t.Error("the target database holds a plaintext")
	}
}
