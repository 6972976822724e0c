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
	"github.com/aws/aws-sdk-go-v2/service/ssm"
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
	if want := (CopyStats{ParameterVersions: 3, Secrets: 3, SecretVersions: 4}); stats != want {
		t.Fatalf("copied %+v, want %+v", stats, want)
	}
	// Again: nothing left to copy, and no error.
	if stats, err := CopyStore(ctx, src.Store, dst.Store); err != nil || stats != (CopyStats{}) {
		t.Fatalf("a second copy: %+v, %v", stats, err)
	}

	// Everything reads the same through the target's API.
	for _, name := range []string{"/dev/USER", "/dev/KEY"} {
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
	if cells := dbCells(t, dst.DB); bytes.Contains(cells, []byte(plain)) {
		t.Error("the target database holds a plaintext")
	}
}
