// Package resolve reads a run's references (SSM:…, SECRET:…) through the
// AWS SDK: from the server's embedded parameter store with a run's scoped
// key pair, or from AWS itself. It is the runner's side of the parameter
// store and links no database: the store and its API live in
// internal/params, on the server.
package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jetway-dev/jetway/internal/config"
)

// Options say where references are read: the embedded store
// (Endpoint set, with a scoped key pair) or AWS itself (Endpoint empty, the
// standard credential chain and region).
type Options struct {
	Endpoint    string
	Region      string
	Credentials aws.CredentialsProvider
}

// Resolver reads references through the AWS SDK, the same code for the
// embedded store and for AWS.
type Resolver struct {
	ssm *ssm.Client
	sm  *secretsmanager.Client
}

// New builds SDK clients from opts, filling the gaps from the
// standard AWS configuration (environment, shared files, instance role).
func New(ctx context.Context, opts Options) (*Resolver, error) {
	var loaders []func(*awsconfig.LoadOptions) error
	if opts.Region != "" {
		loaders = append(loaders, awsconfig.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loaders = append(loaders, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	var endpoint *string
	if opts.Endpoint != "" {
		endpoint = aws.String(opts.Endpoint)
	}
	return &Resolver{
		ssm: ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = endpoint }),
		sm:  secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint }),
	}, nil
}

// Resolved is a reference's value.
type Resolved struct {
	Value []byte
	// Secure is true for SecureString parameters and every Secrets Manager
	// value: these are masked in logs.
	Secure bool
}

// MissingError lists references whose parameter or secret does not exist.
type MissingError struct {
	Missing []config.Ref
}

func (e *MissingError) Error() string {
	var names []string
	for _, r := range e.Missing {
		names = append(names, r.String())
	}
	return "not found: " + strings.Join(names, ", ")
}

// Resolve reads every reference: parameters with GetParameters in batches
// of 10 (decrypted), secrets with GetSecretValue. References that do not
// exist are reported together in a *MissingError.
func (r *Resolver) Resolve(ctx context.Context, refs []config.Ref) (map[config.Ref]Resolved, error) {
	out := map[config.Ref]Resolved{}
	missing := &MissingError{}
	var params []string
	seen := map[string]bool{}
	for _, ref := range refs {
		if ref.Store == config.ParameterStore && !seen[ref.Name] {
			seen[ref.Name] = true
			params = append(params, ref.Name)
		}
	}
	values := map[string]Resolved{}
	for start := 0; start < len(params); start += 10 {
		batch := params[start:min(start+10, len(params))]
		res, err := r.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: batch, WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("reading parameters %s: %w", strings.Join(batch, ", "), err)
		}
		for _, p := range res.Parameters {
			values[paramKey(aws.ToString(p.Name))] = Resolved{Value: []byte(aws.ToString(p.Value)), Secure: p.Type == ssmtypes.ParameterTypeSecureString}
		}
	}
	secrets := map[string]Resolved{}
	for _, ref := range refs {
		switch ref.Store {
		case config.ParameterStore:
			v, ok := values[paramKey(ref.Name)]
			if !ok {
				missing.Missing = append(missing.Missing, ref)
				continue
			}
			out[ref] = v
		case config.SecretsManager:
			whole, ok := secrets[ref.Name]
			if !ok {
				res, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Name)})
				var notFound *smtypes.ResourceNotFoundException
				if errors.As(err, &notFound) {
					missing.Missing = append(missing.Missing, ref)
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("reading secret %s: %w", ref.Name, err)
				}
				whole = Resolved{Value: res.SecretBinary, Secure: true}
				if res.SecretString != nil {
					whole.Value = []byte(*res.SecretString)
				}
				secrets[ref.Name] = whole
			}
			if ref.JSONKey == "" {
				out[ref] = whole
				continue
			}
			v, err := JSONKey(whole.Value, ref.JSONKey)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", ref.Name, err)
			}
			out[ref] = Resolved{Value: v, Secure: true}
		}
	}
	if len(missing.Missing) > 0 {
		return nil, missing
	}
	return out, nil
}

// paramKey is the key a parameter's value is found by: a name of one
// level is the same parameter with or without its leading slash, as on
// AWS, and the store answers "x" with "/x" under the name it has.
func paramKey(name string) string {
	if rest, ok := strings.CutPrefix(name, "/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return name
}

// JSONKey picks one key of a JSON object: a string as it is, anything else
// as its JSON text.
func JSONKey(doc []byte, key string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return nil, fmt.Errorf("the value is not a JSON object, so it has no key %q", key)
	}
	raw, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("the JSON object has no key %q", key)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s), nil
	}
	return raw, nil
}
