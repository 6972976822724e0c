package params

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
)

// secretEntry is a secret's metadata as DescribeSecret and ListSecrets
// answer it.
func secretEntry(sec Secret) map[string]any {
	out := map[string]any{"ARN": sec.ARN, "Name": sec.Name, "LastChangedDate": epoch(sec.Changed), "CreatedDate": epoch(sec.Created),
		"RotationEnabled": false, "Tags": sec.Tags}
	if sec.Tags == nil {
		out["Tags"] = []Tag{}
	}
	if v := sec.versionsToStages(); len(v) > 0 {
		out["VersionIdsToStages"] = v
	}
	if sec.Description != "" {
		out["Description"] = sec.Description
	}
	if sec.Deleted != nil {
		out["DeletedDate"] = epoch(*sec.Deleted)
	}
	return out
}

// secretValue reads SecretString and SecretBinary from a request.
func secretValue(str *string, bin []byte) ([]byte, bool, error) {
	if len(bin) > 0 {
		if str != nil {
			return nil, false, apiErr("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
		}
		return bin, true, nil
	}
	if str != nil {
		return []byte(*str), false, nil
	}
	return nil, false, nil
}

func (a *API) secretsManager(ctx context.Context, who Principal, region, op string, body []byte, note *accessNote) (any, error) {
	if !who.Admin && op != "GetSecretValue" {
		return nil, denied(who, "secretsmanager:"+op)
	}
	var in struct {
		Name, SecretId, VersionId, VersionStage, NextToken, ClientRequestToken, SortOrder, KmsKeyId string
		Description, SecretString                                                                   *string
		SecretBinary                                                                                []byte
		ForceDeleteWithoutRecovery, IncludePlannedDeletion                                          bool
		RecoveryWindowInDays                                                                        *int
		MaxResults                                                                                  int
		VersionStages                                                                               []string
		Tags                                                                                        []Tag
		TagKeys                                                                                     []string
		Filters                                                                                     []SecretFilter
		AddReplicaRegions                                                                           []any
		// GetRandomPassword
		PasswordLength                                                                       *int64
		ExcludeCharacters                                                                    string
		ExcludeNumbers, ExcludePunctuation, ExcludeUppercase, ExcludeLowercase, IncludeSpace bool
		RequireEachIncludedType                                                              *bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	value, binary, err := secretValue(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	write := SecretWrite{Token: in.ClientRequestToken, Value: value, Binary: binary, Stages: in.VersionStages}
	if op != "GetRandomPassword" {
		if err := a.Store.purgeDeletedSecrets(ctx); err != nil {
			return nil, err
		}
	}
	switch op {
	case "CreateSecret":
		if len(in.AddReplicaRegions) > 0 {
			return nil, apiErr("InvalidRequestException", "The embedded store does not replicate secrets to other regions.")
		}
		if in.SecretString != nil && len(value) == 0 {
			return nil, apiErr("InvalidParameterException", "You must provide a value for SecretString that is at least 1 character.")
		}
		description := ""
		if in.Description != nil {
			description = *in.Description
		}
		sec, err := a.Store.CreateSecret(ctx, CreateSecretInput{Region: region, Name: in.Name, Description: description, Write: write, Tags: in.Tags})
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name}
		if sec.VersionID != "" {
			out["VersionId"] = sec.VersionID
		}
		return out, nil
	case "PutSecretValue":
		sec, err := a.Store.PutSecretValue(ctx, in.SecretId, write)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID, "VersionStages": sec.stages(sec.VersionID)}, nil
	case "UpdateSecret":
		sec, err := a.Store.UpdateSecret(ctx, in.SecretId, in.Description, write)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name}
		if sec.VersionID != "" {
			out["VersionId"] = sec.VersionID
		}
		return out, nil
	case "GetSecretValue":
		if !who.Admin {
			name, _, err := a.Store.resolveSecretID(ctx, a.Store.db, in.SecretId)
			switch {
			case err != nil && who.Secrets[in.SecretId]:
				return nil, err // allowed, but there is no such secret
			case err != nil || !who.Secrets[name]:
				return nil, denied(who, "secretsmanager:GetSecretValue on "+in.SecretId)
			}
		}
		sec, err := a.Store.GetSecretValue(ctx, in.SecretId, in.VersionId, in.VersionStage)
		if err != nil {
			return nil, err
		}
		note.read(sec.Name)
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID, "VersionStages": sec.stages(sec.VersionID), "CreatedDate": epoch(sec.Created)}
		if sec.IsBinary {
			out["SecretBinary"] = base64.StdEncoding.EncodeToString(sec.Binary)
		} else {
			out["SecretString"] = sec.String
		}
		return out, nil
	case "DescribeSecret":
		sec, err := a.Store.DescribeSecret(ctx, in.SecretId)
		if err != nil {
			return nil, err
		}
		return secretEntry(sec), nil
	case "DeleteSecret":
		sec, when, err := a.Store.DeleteSecret(ctx, region, in.SecretId, in.ForceDeleteWithoutRecovery, in.RecoveryWindowInDays)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": epoch(when)}, nil
	case "RestoreSecret":
		sec, err := a.Store.RestoreSecret(ctx, in.SecretId)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name}, nil
	case "TagResource", "UntagResource":
		if op == "TagResource" && in.Tags == nil {
			return nil, apiErr("InvalidParameterException", "You must provide Tags.")
		}
		if op == "UntagResource" && in.TagKeys == nil {
			return nil, apiErr("InvalidParameterException", "You must provide TagKeys.")
		}
		if op == "TagResource" {
			in.TagKeys = nil
		} else {
			in.Tags = nil
		}
		name, err := a.Store.TagSecret(ctx, in.SecretId, in.Tags, in.TagKeys)
		if err != nil {
			return nil, err
		}
		note.wrote(name)
		return map[string]any{}, nil
	case "ListSecrets":
		secrets, next, err := a.Store.ListSecrets(ctx, ListSecretsInput{Filters: in.Filters, IncludePlannedDeletion: in.IncludePlannedDeletion,
			SortOrder: in.SortOrder, MaxResults: in.MaxResults, NextToken: in.NextToken})
		if err != nil {
			return nil, err
		}
		list := []map[string]any{}
		for _, s := range secrets {
			item := secretEntry(s)
			delete(item, "VersionIdsToStages")
			item["SecretVersionsToStages"] = s.versionsToStages()
			list = append(list, item)
		}
		return withToken(map[string]any{"SecretList": list}, next), nil
	case "GetRandomPassword":
		pw, err := randomPassword(passwordRules{length: in.PasswordLength, exclude: in.ExcludeCharacters, noNumbers: in.ExcludeNumbers, noPunctuation: in.ExcludePunctuation,
			noUpper: in.ExcludeUppercase, noLower: in.ExcludeLowercase, space: in.IncludeSpace, eachType: in.RequireEachIncludedType})
		if err != nil {
			return nil, err
		}
		return map[string]any{"RandomPassword": pw}, nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "the embedded store does not implement secretsmanager:" + op, Status: http.StatusBadRequest}
}

type passwordRules struct {
	length                                            *int64
	exclude                                           string
	noNumbers, noPunctuation, noUpper, noLower, space bool
	eachType                                          *bool
}

const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// randomPassword answers GetRandomPassword: 32 characters by default
// (1 to 4096), from the classes not excluded, at least one of each unless
// RequireEachIncludedType is false.
func randomPassword(r passwordRules) (string, error) {
	length := int64(32)
	if r.length != nil {
		length = *r.length
	}
	if length < 1 || length > 4096 {
		return "", apiErr("InvalidParameterException", "Password length must be between 1 and 4096 characters.")
	}
	if len(r.exclude) > 4096 {
		return "", apiErr("ValidationException", "1 validation error detected: Value at 'excludeCharacters' failed to satisfy constraint: Member must have length less than or equal to 4096")
	}
	var classes []string
	add := func(skip bool, chars string) {
		if skip {
			return
		}
		var kept strings.Builder
		for _, c := range chars {
			if !strings.ContainsRune(r.exclude, c) {
				kept.WriteRune(c)
			}
		}
		if kept.Len() > 0 {
			classes = append(classes, kept.String())
		}
	}
	add(r.noLower, "abcdefghijklmnopqrstuvwxyz")
	add(r.noUpper, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	add(r.noNumbers, "0123456789")
	add(r.noPunctuation, punctuation)
	add(!r.space, " ")
	if len(classes) == 0 {
		return "", apiErr("InvalidParameterException", "The password can't be generated: every kind of character is excluded.")
	}
	each := r.eachType == nil || *r.eachType
	if each && int64(len(classes)) > length {
		return "", apiErr("InvalidParameterException", "The password length is too short to include a character of each required type.")
	}
	all := strings.Join(classes, "")
	pick := func(from string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(from))))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		return from[n.Int64()]
	}
	var pw []byte
	if each {
		for _, c := range classes {
			pw = append(pw, pick(c))
		}
	}
	for int64(len(pw)) < length {
		pw = append(pw, pick(all))
	}
	for i := len(pw) - 1; i > 0; i-- { // shuffle: the required ones anywhere
		n, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			panic(err)
		}
		j := n.Int64()
		pw[i], pw[j] = pw[j], pw[i]
	}
	return string(pw), nil
}
