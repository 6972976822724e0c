package params

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// accessLog records what OnAccess is told.
type accessLog struct {
	mu  sync.Mutex
	got []Access
}

func (l *accessLog) record(_ context.Context, a Access) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, a)
}

func (l *accessLog) take() []Access {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

func TestOnAccess(t *testing.T) {
	s := newTestServer(t, "sqlite")
	var log accessLog
	s.API.OnAccess = log.record
	ctx := context.Background()
	c, sm := s.adminSSM(), s.adminSM()
	admin := s.Admin.AccessKeyID
	put(t, c, "/a/x", "SecureString", "v1", false)
	put(t, c, "/a/y", "String", "v2", false)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("pw")}); err != nil {
		t.Fatal(err)
	}
	log.take()
	key := s.issue(t, Scope{Parameters: []string{"/a/x"}, Secrets: []string{"db"}, TTL: 60e9, RunID: "run-1"})
	s.Runs.start("run-1")
	scoped := s.ssmClient(key.AccessKeyID, key.SecretAccessKey)
	scopedSM := s.smClient(key.AccessKeyID, key.SecretAccessKey)

	steps := []struct {
		name string
		call func() error
		want []Access
	}{
		{"a scoped read", func() error {
			_, err := scoped.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/a/x"), WithDecryption: aws.Bool(true)})
			return err
		}, []Access{{AccessKeyID: key.AccessKeyID, RunID: "run-1", Operation: "ssm:GetParameter", Names: []string{"/a/x"}}}},
		{"a secret read", func() error {
			_, err := scopedSM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
			return err
		}, []Access{{AccessKeyID: key.AccessKeyID, RunID: "run-1", Operation: "secretsmanager:GetSecretValue", Names: []string{"db"}}}},
		{"a refused read is not an access", func() error {
			_, err := scoped.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/a/y")})
			if err == nil {
				t.Error("a scoped key read outside its scope")
			}
			return nil
		}, nil},
		{"reads by path name what they returned", func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/a")})
			return err
		}, []Access{{AccessKeyID: admin, Operation: "ssm:GetParametersByPath", Names: []string{"/a/x", "/a/y"}}}},
		{"a write", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/a/y"), Value: aws.String("v3"), Overwrite: aws.Bool(true)})
			return err
		}, []Access{{AccessKeyID: admin, Operation: "ssm:PutParameter", Names: []string{"/a/y"}, Write: true}}},
		{"a failed write is not", func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/a/y"), Value: aws.String("v3")})
			if err == nil {
				t.Error("an overwrite without Overwrite succeeded")
			}
			return nil
		}, nil},
		{"metadata is not", func() error {
			_, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{})
			return err
		}, nil},
		{"a delete", func() error {
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		}, []Access{{AccessKeyID: admin, Operation: "secretsmanager:DeleteSecret", Names: []string{"db"}, Write: true}}},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := log.take(); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: OnAccess got %+v, want %+v", st.name, got, st.want)
		}
	}
}
