package params

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// The operations the AWS API reference documents, through the AWS SDK for
// Go v2, each with the answers and error codes the reference gives.

func TestSSMOperationsWithTheSDK(t *testing.T) { onEachEngine(t, testSSMOperations) }

func testSSMOperations(t *testing.T, s *testServer) {
	c := s.adminSSM()
	ctx := context.Background()
	mustPut := func(in *ssm.PutParameterInput) *ssm.PutParameterOutput {
		t.Helper()
		out, err := c.PutParameter(ctx, in)
		if err != nil {
			t.Fatalf("PutParameter %s: %v", aws.ToString(in.Name), err)
		}
		return out
	}
	mustPut(&ssm.PutParameterInput{Name: aws.String("/app/dev/db_url"), Type: "String", Value: aws.String("postgres://db"),
		Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}, {Key: aws.String("env"), Value: aws.String("dev")}}})
	mustPut(&ssm.PutParameterInput{Name: aws.String("/app/dev/password"), Type: "SecureString", Value: aws.String("pw1"),
		Tags: []ssmtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	mustPut(&ssm.PutParameterInput{Name: aws.String("/app/prod/password"), Type: "SecureString", Value: aws.String("pw-prod"), Tier: ssmtypes.ParameterTierAdvanced})
	mustPut(&ssm.PutParameterInput{Name: aws.String("/app/dev/deep/list"), Type: "StringList", Value: aws.String("a,b")})
	mustPut(&ssm.PutParameterInput{Name: aws.String("toplevel"), Type: "String", Value: aws.String("t")})
	mustPut(&ssm.PutParameterInput{Name: aws.String("/golden/ami"), Type: "String", Value: aws.String("ami-0123456789abcdef0"), DataType: aws.String("aws:ec2:image")})

	errCases := []struct {
		name, code string
		call       func() error
	}{
		{"a Standard value over 4 KB", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/big"), Type: "String", Value: aws.String(strings.Repeat("x", 5000))})
			return err
		}},
		{"an Advanced value over 8 KB", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/big"), Type: "String", Value: aws.String(strings.Repeat("x", 8193)), Tier: ssmtypes.ParameterTierAdvanced})
			return err
		}},
		{"Advanced down to Standard", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/prod/password"), Value: aws.String("x"), Overwrite: aws.Bool(true), Tier: ssmtypes.ParameterTierStandard})
			return err
		}},
		{"an unknown tier", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "String", Value: aws.String("x"), Tier: "Gold"})
			return err
		}},
		{"an unknown data type", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "String", Value: aws.String("x"), DataType: aws.String("Text")})
			return err
		}},
		{"aws:ec2:image with another value", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "String", Value: aws.String("not-an-ami"), DataType: aws.String("aws:ec2:image")})
			return err
		}},
		{"aws:ec2:image on a SecureString", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "SecureString", Value: aws.String("ami-12345678"), DataType: aws.String("aws:ec2:image")})
			return err
		}},
		{"a value the AllowedPattern refuses", "ParameterPatternMismatchException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "String", Value: aws.String("abc"), AllowedPattern: aws.String(`^\d+$`)})
			return err
		}},
		{"an AllowedPattern that is no pattern", "InvalidAllowedPatternException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/t"), Type: "String", Value: aws.String("abc"), AllowedPattern: aws.String(`(`)})
			return err
		}},
		{"tags with Overwrite", "ValidationException", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/dev/db_url"), Value: aws.String("x"), Overwrite: aws.Bool(true), Tags: []ssmtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"a tag key beginning with aws:", "ValidationException", func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/dev/db_url"), Tags: []ssmtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}},
		{"tags of a missing parameter", "InvalidResourceId", func() error {
			_, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/nope")})
			return err
		}},
		{"tags of a document", "InvalidResourceType", func() error {
			_, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: "Document", ResourceId: aws.String("doc")})
			return err
		}},
		{"a filter key that is none", "ValidationException", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Colour"), Values: []string{"x"}}}})
			return err
		}},
		{"Label in DescribeParameters", "InvalidFilterKey", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Label"), Values: []string{"x"}}}})
			return err
		}},
		{"Contains on Type", "InvalidFilterOption", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Option: aws.String("Contains"), Values: []string{"String"}}}})
			return err
		}},
		{"a Type no parameter has", "InvalidFilterValue", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"Number"}}}})
			return err
		}},
		{"a Path not beginning with /", "InvalidFilterValue", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Path"), Values: []string{"app"}}}})
			return err
		}},
		{"Filters and ParameterFilters together", "ValidationException", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{
				Filters:          []ssmtypes.ParametersFilter{{Key: "Name", Values: []string{"/app"}}},
				ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"String"}}}})
			return err
		}},
		{"Name by path", "InvalidFilterKey", func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app"), ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"x"}}}})
			return err
		}},
		{"tags by path", "InvalidFilterKey", func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app"), ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("tag:env"), Values: []string{"dev"}}}})
			return err
		}},
		{"DescribeParameters MaxResults 51", "ValidationException", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{MaxResults: aws.Int32(51)})
			return err
		}},
		{"a made-up NextToken", "InvalidNextToken", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{NextToken: aws.String("bogus")})
			return err
		}},
		{"a label on a version that is not there", "ParameterVersionNotFound", func() error {
			_, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/app/dev/db_url"), ParameterVersion: aws.Int64(9), Labels: []string{"x"}})
			return err
		}},
		{"a label on a parameter that is not there", "ParameterNotFound", func() error {
			_, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/nope"), Labels: []string{"x"}})
			return err
		}},
		{"a label no version has", "ParameterVersionNotFound", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/dev/db_url:nolabel")})
			return err
		}},
		{"a reference to a secret without decryption", "ValidationException", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/db")})
			return err
		}},
		{"a reference to a missing secret", "ParameterNotFound", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/nope"), WithDecryption: aws.Bool(true)})
			return err
		}},
		{"an operation the store lacks", "UnknownOperationException", func() error {
			_, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript")})
			return err
		}},
	}
	for _, tc := range errCases {
		if got := errorCode(tc.call()); got != tc.code {
			t.Errorf("%s: error code %q, want %q", tc.name, got, tc.code)
		}
	}

	t.Run("Tier and DataType are kept and shown", func(t *testing.T) {
		out := mustPut(&ssm.PutParameterInput{Name: aws.String("/app/big"), Type: "String", Value: aws.String(strings.Repeat("x", 5000)), Tier: ssmtypes.ParameterTierIntelligentTiering})
		if out.Tier != ssmtypes.ParameterTierAdvanced {
			t.Errorf("Intelligent-Tiering of 5000 bytes: tier %s", out.Tier)
		}
		out = mustPut(&ssm.PutParameterInput{Name: aws.String("/app/big"), Value: aws.String("small"), Overwrite: aws.Bool(true)})
		if out.Tier != ssmtypes.ParameterTierAdvanced || out.Version != 2 {
			t.Errorf("an overwrite without Tier: %s version %d", out.Tier, out.Version)
		}
		d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("DataType"), Values: []string{"aws:ec2:image"}}}})
		if err != nil || len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].Name) != "/golden/ami" || aws.ToString(d.Parameters[0].DataType) != "aws:ec2:image" {
			t.Fatalf("DataType filter: %+v %v", d, err)
		}
		g, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/golden/ami")})
		if err != nil || aws.ToString(g.Parameter.DataType) != "aws:ec2:image" {
			t.Fatalf("GetParameter DataType: %+v %v", g, err)
		}
	})
	t.Run("DescribeParameters filters", func(t *testing.T) {
		cases := []struct {
			name    string
			in      ssm.DescribeParametersInput
			want    string
			perPage int32
		}{
			{"Name Equals, /x is x", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"/toplevel"}}}}, "toplevel", 0},
			{"Name BeginsWith", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/app/dev"}}}}, "/app/dev/db_url /app/dev/deep/list /app/dev/password", 1},
			{"Name Contains", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Contains"), Values: []string{"pass"}}}}, "/app/dev/password /app/prod/password", 0},
			{"Path OneLevel", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Path"), Values: []string{"/app/dev"}}}}, "/app/dev/db_url /app/dev/password", 0},
			{"Path Recursive and Type", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
				{Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{"/app"}}, {Key: aws.String("Type"), Values: []string{"SecureString"}}}}, "/app/dev/password /app/prod/password", 1},
			{"KeyId", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("KeyId"), Values: []string{"alias/aws/ssm"}}}}, "/app/dev/password /app/prod/password", 0},
			{"Tier", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Tier"), Values: []string{"Advanced"}}}}, "/app/big /app/prod/password", 0},
			{"a tag's value", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("tag:env"), Values: []string{"dev"}}}}, "/app/dev/db_url /app/dev/password", 0},
			{"a tag's key only", ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("tag:team")}}}, "/app/dev/db_url", 0},
			{"legacy Filters: Name begins, Type", ssm.DescribeParametersInput{Filters: []ssmtypes.ParametersFilter{{Key: "Name", Values: []string{"/app/"}}, {Key: "Type", Values: []string{"StringList"}}}}, "/app/dev/deep/list", 0},
		}
		for _, tc := range cases {
			in := tc.in
			if tc.perPage > 0 {
				in.MaxResults = aws.Int32(tc.perPage)
			}
			var names []string
			p := ssm.NewDescribeParametersPaginator(c, &in)
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				for _, m := range page.Parameters {
					names = append(names, aws.ToString(m.Name))
				}
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
			}
		}
	})
	t.Run("labels and selectors", func(t *testing.T) {
		mustPut(&ssm.PutParameterInput{Name: aws.String("/app/dev/db_url"), Value: aws.String("postgres://db2"), Overwrite: aws.Bool(true)})
		l, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/app/dev/db_url"), ParameterVersion: aws.Int64(1), Labels: []string{"stable", "1bad", "awsx"}})
		if err != nil || l.ParameterVersion != 1 || strings.Join(l.InvalidLabels, ",") != "1bad,awsx" {
			t.Fatalf("LabelParameterVersion: %+v %v", l, err)
		}
		g, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/dev/db_url:stable")})
		if err != nil || aws.ToString(g.Parameter.Value) != "postgres://db" || aws.ToString(g.Parameter.Selector) != ":stable" || g.Parameter.Version != 1 {
			t.Fatalf("GetParameter by label: %+v %v", g.Parameter, err)
		}
		gs, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/app/dev/db_url:1", "/app/dev/db_url:stable", "/app/dev/db_url:gone"}})
		if err != nil || len(gs.Parameters) != 2 || aws.ToString(gs.Parameters[0].Selector) != ":1" || aws.ToString(gs.Parameters[1].Selector) != ":stable" || strings.Join(gs.InvalidParameters, ",") != "/app/dev/db_url:gone" {
			t.Fatalf("GetParameters with selectors: %+v %v", gs, err)
		}
		byPath, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app/dev"), ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Label"), Values: []string{"stable"}}}})
		if err != nil || len(byPath.Parameters) != 1 || aws.ToString(byPath.Parameters[0].Value) != "postgres://db" {
			t.Fatalf("GetParametersByPath with a Label filter: %+v %v", byPath, err)
		}
		// The label moves to version 2.
		if _, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/app/dev/db_url"), Labels: []string{"stable"}}); err != nil {
			t.Fatal(err)
		}
		h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/dev/db_url")})
		if err != nil || len(h.Parameters[0].Labels) != 0 || strings.Join(h.Parameters[1].Labels, ",") != "stable" {
			t.Fatalf("history's labels: %+v %v", h, err)
		}
		u, err := c.UnlabelParameterVersion(ctx, &ssm.UnlabelParameterVersionInput{Name: aws.String("/app/dev/db_url"), ParameterVersion: aws.Int64(2), Labels: []string{"stable", "other"}})
		if err != nil || strings.Join(u.RemovedLabels, ",") != "stable" || strings.Join(u.InvalidLabels, ",") != "other" {
			t.Fatalf("UnlabelParameterVersion: %+v %v", u, err)
		}
	})
	t.Run("ARNs and one-level names", func(t *testing.T) {
		arn := "arn:aws:ssm:eu-west-1:" + AccountID + ":parameter/app/dev/password"
		g, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(arn), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(g.Parameter.Value) != "pw1" || aws.ToString(g.Parameter.ARN) != arn {
			t.Fatalf("GetParameter by ARN: %+v %v", g, err)
		}
		g, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/toplevel")})
		if err != nil || aws.ToString(g.Parameter.Value) != "t" {
			t.Fatalf("/toplevel: %+v %v", g, err)
		}
		_, err = c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/toplevel"), Type: "String", Value: aws.String("u")})
		if errorCode(err) != "ParameterAlreadyExists" {
			t.Fatalf("/toplevel beside toplevel: %v", err)
		}
	})
	t.Run("tags", func(t *testing.T) {
		list := func() string {
			t.Helper()
			out, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/dev/db_url")})
			if err != nil {
				t.Fatal(err)
			}
			var kv []string
			for _, tg := range out.TagList {
				kv = append(kv, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
			}
			return strings.Join(kv, ",")
		}
		if got := list(); got != "env=dev,team=core" {
			t.Fatalf("tags made with the parameter: %s", got)
		}
		if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/dev/db_url"),
			Tags: []ssmtypes.Tag{{Key: aws.String("env"), Value: aws.String("staging")}, {Key: aws.String("owner"), Value: aws.String("ops")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RemoveTagsFromResource(ctx, &ssm.RemoveTagsFromResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/dev/db_url"), TagKeys: []string{"team", "never"}}); err != nil {
			t.Fatal(err)
		}
		if got := list(); got != "env=staging,owner=ops" {
			t.Fatalf("tags after add and remove: %s", got)
		}
		var many []ssmtypes.Tag
		for i := range 49 {
			many = append(many, ssmtypes.Tag{Key: aws.String("k" + itoa(int64(i))), Value: aws.String("v")})
		}
		_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/dev/db_url"), Tags: many})
		if errorCode(err) != "TooManyTagsError" {
			t.Fatalf("51 tags: %v", err)
		}
		// A parameter deleted and made again has none of the old tags.
		mustPut(&ssm.PutParameterInput{Name: aws.String("/app/tmp"), Type: "String", Value: aws.String("x"), Tags: []ssmtypes.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
		if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/tmp")}); err != nil {
			t.Fatal(err)
		}
		mustPut(&ssm.PutParameterInput{Name: aws.String("/app/tmp"), Type: "String", Value: aws.String("x")})
		out, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/app/tmp")})
		if err != nil || len(out.TagList) != 0 {
			t.Fatalf("tags of a re-made parameter: %+v %v", out, err)
		}
	})
	t.Run("GetParametersByPath filters", func(t *testing.T) {
		out, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true),
			ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"SecureString"}}}, WithDecryption: aws.Bool(true)})
		if err != nil || len(out.Parameters) != 2 || aws.ToString(out.Parameters[0].Value) != "pw1" {
			t.Fatalf("by path, SecureString only: %+v %v", out, err)
		}
	})
	t.Run("100 versions", func(t *testing.T) {
		mustPut(&ssm.PutParameterInput{Name: aws.String("/many"), Type: "String", Value: aws.String("v")})
		if _, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/many"), ParameterVersion: aws.Int64(1), Labels: []string{"first"}}); err != nil {
			t.Fatal(err)
		}
		for range 99 {
			mustPut(&ssm.PutParameterInput{Name: aws.String("/many"), Value: aws.String("v"), Overwrite: aws.Bool(true)})
		}
		_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/many"), Value: aws.String("v"), Overwrite: aws.Bool(true)})
		if errorCode(err) != "ParameterMaxVersionLimitExceeded" {
			t.Fatalf("version 101 with version 1 labelled: %v", err)
		}
		if _, err := c.UnlabelParameterVersion(ctx, &ssm.UnlabelParameterVersionInput{Name: aws.String("/many"), ParameterVersion: aws.Int64(1), Labels: []string{"first"}}); err != nil {
			t.Fatal(err)
		}
		if out := mustPut(&ssm.PutParameterInput{Name: aws.String("/many"), Value: aws.String("v"), Overwrite: aws.Bool(true)}); out.Version != 101 {
			t.Fatalf("version %d", out.Version)
		}
		_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/many:1")})
		if errorCode(err) != "ParameterVersionNotFound" {
			t.Fatalf("version 1 after 101: %v", err)
		}
	})
}

func TestSecretsManagerOperationsWithTheSDK(t *testing.T) {
	onEachEngine(t, testSecretsManagerOperations)
}

func testSecretsManagerOperations(t *testing.T, s *testServer) {
	c := s.adminSM()
	ctx := context.Background()
	token := "11111111-2222-3333-4444-555555555555"
	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("pw1"), ClientRequestToken: aws.String(token),
		Description: aws.String("the database"), Tags: []smtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}})
	if err != nil || aws.ToString(created.VersionId) != token {
		t.Fatalf("CreateSecret with a token: %+v %v", created, err)
	}
	again, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("pw1"), ClientRequestToken: aws.String(token)})
	if err != nil || aws.ToString(again.ARN) != aws.ToString(created.ARN) {
		t.Fatalf("CreateSecret repeated with its token: %+v %v", again, err)
	}
	empty, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
	if err != nil || empty.VersionId != nil {
		t.Fatalf("CreateSecret without a value: %+v %v", empty, err)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("dev/api"), SecretString: aws.String("k"), Description: aws.String("API key"),
		Tags: []smtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}, {Key: aws.String("team"), Value: aws.String("core")}}}); err != nil {
		t.Fatal(err)
	}

	errCases := []struct {
		name, code string
		call       func() error
	}{
		{"a token repeated with another value", "ResourceExistsException", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("other"), ClientRequestToken: aws.String(token)})
			return err
		}},
		{"a token too short", "ValidationException", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("x"), ClientRequestToken: aws.String("short")})
			return err
		}},
		{"the value of a secret without one", "ResourceNotFoundException", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
			return err
		}},
		{"a staging label no version has", "ResourceNotFoundException", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionStage: aws.String("AWSPENDING")})
			return err
		}},
		{"DescribeSecret of a missing secret", "ResourceNotFoundException", func() error {
			_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
			return err
		}},
		{"UpdateSecret of a missing secret", "ResourceNotFoundException", func() error {
			_, err := c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
			return err
		}},
		{"RestoreSecret of a missing secret", "ResourceNotFoundException", func() error {
			_, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("nope")})
			return err
		}},
		{"RecoveryWindowInDays 0", "InvalidParameterException", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/db"), RecoveryWindowInDays: aws.Int64(0)})
			return err
		}},
		{"RecoveryWindowInDays 31", "InvalidParameterException", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/db"), RecoveryWindowInDays: aws.Int64(31)})
			return err
		}},
		{"force with a window", "InvalidParameterException", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/db"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		}},
		{"a ListSecrets filter key that is none", "ValidationException", func() error {
			_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: "colour", Values: []string{"x"}}}})
			return err
		}},
		{"a ListSecrets filter value with *", "ValidationException", func() error {
			_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: "name", Values: []string{"prod*"}}}})
			return err
		}},
		{"ListSecrets MaxResults 101", "ValidationException", func() error {
			_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)})
			return err
		}},
		{"a tag key beginning with aws:", "ValidationException", func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("prod/db"), Tags: []smtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}},
		{"a password of length 0", "InvalidParameterException", func() error {
			_, err := c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(0)})
			return err
		}},
		{"a password with every class excluded", "InvalidParameterException", func() error {
			_, err := c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true)})
			return err
		}},
		{"an operation the store lacks", "UnknownOperationException", func() error {
			_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("prod/db")})
			return err
		}},
	}
	for _, tc := range errCases {
		if got := errorCode(tc.call()); got != tc.code {
			t.Errorf("%s: error code %q, want %q", tc.name, got, tc.code)
		}
	}

	t.Run("VersionStages and PutSecretValue's token", func(t *testing.T) {
		pending, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("pw2"), VersionStages: []string{"AWSPENDING"}})
		if err != nil || strings.Join(pending.VersionStages, ",") != "AWSPENDING" {
			t.Fatalf("put with AWSPENDING: %+v %v", pending, err)
		}
		cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
		if err != nil || aws.ToString(cur.SecretString) != "pw1" {
			t.Fatalf("AWSCURRENT moved with AWSPENDING: %+v %v", cur, err)
		}
		p, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionStage: aws.String("AWSPENDING")})
		if err != nil || aws.ToString(p.SecretString) != "pw2" {
			t.Fatalf("AWSPENDING: %+v %v", p, err)
		}
		tok := "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
		for range 2 { // the same token twice makes one version
			if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("pw3"), ClientRequestToken: aws.String(tok)}); err != nil {
				t.Fatal(err)
			}
		}
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db")})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{tok: "AWSCURRENT", token: "AWSPREVIOUS", aws.ToString(pending.VersionId): "AWSPENDING"}
		if len(d.VersionIdsToStages) != 3 {
			t.Fatalf("VersionIdsToStages %v", d.VersionIdsToStages)
		}
		for v, st := range want {
			if strings.Join(d.VersionIdsToStages[v], ",") != st {
				t.Errorf("version %s: stages %v, want %s", v, d.VersionIdsToStages[v], st)
			}
		}
		if aws.ToString(d.Description) != "the database" || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "env" {
			t.Errorf("DescribeSecret: %+v", d)
		}
	})
	t.Run("UpdateSecret", func(t *testing.T) {
		u, err := c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("empty"), Description: aws.String("now described")})
		if err != nil || u.VersionId != nil {
			t.Fatalf("UpdateSecret of the description: %+v %v", u, err)
		}
		u, err = c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("empty"), SecretString: aws.String("first")})
		if err != nil || u.VersionId == nil {
			t.Fatalf("UpdateSecret with a value: %+v %v", u, err)
		}
		g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
		if err != nil || aws.ToString(g.SecretString) != "first" {
			t.Fatalf("after UpdateSecret: %+v %v", g, err)
		}
		d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("empty")})
		if aws.ToString(d.Description) != "now described" {
			t.Errorf("description %q", aws.ToString(d.Description))
		}
	})
	t.Run("tags", func(t *testing.T) {
		if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("dev/api"), Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("dev/api"), TagKeys: []string{"team"}}); err != nil {
			t.Fatal(err)
		}
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("dev/api")})
		if err != nil || len(d.Tags) != 2 || aws.ToString(d.Tags[0].Key) != "env" || aws.ToString(d.Tags[1].Key) != "owner" {
			t.Fatalf("tags: %+v %v", d.Tags, err)
		}
	})
	t.Run("ListSecrets filters, tags and pages", func(t *testing.T) {
		cases := []struct {
			name    string
			filters []smtypes.Filter
			want    string
		}{
			{"name prefix", []smtypes.Filter{{Key: "name", Values: []string{"prod/"}}}, "prod/db"},
			{"name is case-sensitive", []smtypes.Filter{{Key: "name", Values: []string{"PROD"}}}, ""},
			{"description ignores case", []smtypes.Filter{{Key: "description", Values: []string{"api"}}}, "dev/api"},
			{"tag-key", []smtypes.Filter{{Key: "tag-key", Values: []string{"env"}}}, "dev/api prod/db"},
			{"tag-value", []smtypes.Filter{{Key: "tag-value", Values: []string{"pro"}}}, "prod/db"},
			{"a negation", []smtypes.Filter{{Key: "name", Values: []string{"!prod"}}}, "dev/api empty"},
			{"two filters", []smtypes.Filter{{Key: "tag-key", Values: []string{"env"}}, {Key: "tag-value", Values: []string{"dev"}}}, "dev/api"},
			{"all", []smtypes.Filter{{Key: "all", Values: []string{"Database"}}}, "prod/db"},
		}
		for _, tc := range cases {
			var names []string
			p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{Filters: tc.filters, MaxResults: aws.Int32(1)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				for _, e := range page.SecretList {
					names = append(names, aws.ToString(e.Name))
				}
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
			}
		}
		out, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: "name", Values: []string{"dev/api"}}}})
		if err != nil || len(out.SecretList) != 1 || len(out.SecretList[0].Tags) != 2 {
			t.Fatalf("ListSecrets' tags: %+v %v", out, err)
		}
	})
	t.Run("GetRandomPassword", func(t *testing.T) {
		for _, tc := range []struct {
			in    secretsmanager.GetRandomPasswordInput
			n     int
			avoid string
		}{
			{secretsmanager.GetRandomPasswordInput{}, 32, " "},
			{secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4), ExcludePunctuation: aws.Bool(true), ExcludeCharacters: aws.String("abc")}, 4, punctuation + "abc "},
			{secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(200), ExcludeNumbers: aws.Bool(true), ExcludeUppercase: aws.Bool(true)}, 200, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
		} {
			out, err := c.GetRandomPassword(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			pw := aws.ToString(out.RandomPassword)
			if len(pw) != tc.n || strings.ContainsAny(pw, tc.avoid) {
				t.Errorf("password %q for %+v", pw, tc.in)
			}
		}
	})
	t.Run("delete, restore, delete again", func(t *testing.T) {
		d, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("dev/api"), RecoveryWindowInDays: aws.Int64(7)})
		if err != nil || d.DeletionDate == nil {
			t.Fatalf("DeleteSecret: %+v %v", d, err)
		}
		_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("dev/api")})
		if errorCode(err) != "InvalidRequestException" {
			t.Fatalf("a second delete: %v", err)
		}
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("dev/api"), SecretString: aws.String("x")})
		if errorCode(err) != "InvalidRequestException" {
			t.Fatalf("a put on a deleted secret: %v", err)
		}
		ds, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("dev/api")})
		if err != nil || ds.DeletedDate == nil {
			t.Fatalf("DescribeSecret of a deleted secret: %+v %v", ds, err)
		}
		l, _ := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true), Filters: []smtypes.Filter{{Key: "name", Values: []string{"dev/"}}}})
		if len(l.SecretList) != 1 || l.SecretList[0].DeletedDate == nil {
			t.Fatalf("IncludePlannedDeletion: %+v", l.SecretList)
		}
		if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("dev/api")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("dev/api")}); err != nil {
			t.Fatalf("a restored secret: %v", err)
		}
		if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("dev/api"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		f, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("never-was"), ForceDeleteWithoutRecovery: aws.Bool(true)})
		if err != nil || aws.ToString(f.Name) != "never-was" {
			t.Fatalf("a forced delete of a missing secret: %+v %v", f, err)
		}
		_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("never-was")})
		if errorCode(err) != "ResourceNotFoundException" {
			t.Fatalf("a delete of a missing secret: %v", err)
		}
	})
	t.Run("a secret through SSM", func(t *testing.T) {
		g, err := s.adminSSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/prod/db"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(g.Parameter.Value) != "pw3" || g.Parameter.Type != ssmtypes.ParameterTypeSecureString || aws.ToString(g.Parameter.SourceResult) == "" {
			t.Fatalf("GetParameter of a secret: %+v %v", g, err)
		}
		g, err = s.adminSSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/prod/db:AWSPREVIOUS"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(g.Parameter.Value) != "pw1" {
			t.Fatalf("GetParameter of a secret's previous version: %+v %v", g, err)
		}
	})
}

// A run's key pair reads exactly its references: the new operations and
// spellings give it nothing more.
func TestScopedKeyStaysReadOnly(t *testing.T) {
	s := newTestServer(t, "sqlite")
	ctx := context.Background()
	admin := s.adminSSM()
	put(t, admin, "/run/mine", "SecureString", "m", false)
	put(t, admin, "/run/other", "SecureString", "o", false)
	put(t, admin, "single", "String", "s", false)
	for _, n := range []string{"mine", "theirs"} {
		if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(n), SecretString: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	key := s.issue(t, Scope{Parameters: []string{"/run/mine", "/single"}, Secrets: []string{"mine"}, TTL: 60e9})
	c, sm := s.ssmClient(key.AccessKeyID, key.SecretAccessKey), s.smClient(key.AccessKeyID, key.SecretAccessKey)
	allowed := []struct {
		name string
		call func() error
	}{
		{"its parameter by ARN", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:eu-west-1:" + AccountID + ":parameter/run/mine"), WithDecryption: aws.Bool(true)})
			return err
		}},
		{"its /single as single", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("single")})
			return err
		}},
		{"its secret through SSM", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/mine"), WithDecryption: aws.Bool(true)})
			return err
		}},
	}
	for _, tc := range allowed {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	refused := []struct {
		name string
		call func() error
	}{
		{"another parameter by ARN", func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:eu-west-1:" + AccountID + ":parameter/run/other")})
			return err
		}},
		{"another secret through SSM", func() error {
			_, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/aws/reference/secretsmanager/theirs"}, WithDecryption: aws.Bool(true)})
			return err
		}},
		{"DescribeParameters", func() error { _, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{}); return err }},
		{"GetParametersByPath", func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/run")})
			return err
		}},
		{"ListTagsForResource", func() error {
			_, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/run/mine")})
			return err
		}},
		{"AddTagsToResource", func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: "Parameter", ResourceId: aws.String("/run/mine"), Tags: []ssmtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"LabelParameterVersion", func() error {
			_, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/run/mine"), Labels: []string{"x"}})
			return err
		}},
		{"DescribeSecret", func() error {
			_, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("mine")})
			return err
		}},
		{"ListSecrets", func() error { _, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); return err }},
		{"TagResource", func() error {
			_, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("mine"), Tags: []smtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"UpdateSecret", func() error {
			_, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("mine"), SecretString: aws.String("x")})
			return err
		}},
		{"RestoreSecret", func() error {
			_, err := sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("mine")})
			return err
		}},
		{"GetRandomPassword", func() error {
			_, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{})
			return err
		}},
	}
	for _, tc := range refused {
		if got := errorCode(tc.call()); got != "AccessDeniedException" {
			t.Errorf("%s: %q, want AccessDeniedException", tc.name, got)
		}
	}
}
