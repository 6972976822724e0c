package params

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

func (a *API) parameterARN(region, name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, AccountID, strings.TrimPrefix(name, "/"))
}

type ssmParameter struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate float64
	ARN              string
	DataType         string
	Selector         string `json:",omitempty"`
	SourceResult     string `json:",omitempty"`
}

type ssmHistory struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate float64
	LastModifiedUser string
	Description      string `json:",omitempty"`
	AllowedPattern   string `json:",omitempty"`
	Labels           []string
	Tier             string
	Policies         []any
	DataType         string
	KeyId            string `json:",omitempty"`
}

type ssmMetadata struct {
	Name             string
	ARN              string
	Type             string
	Version          int64
	LastModifiedDate float64
	LastModifiedUser string
	Description      string `json:",omitempty"`
	AllowedPattern   string `json:",omitempty"`
	Tier             string
	Policies         []any
	DataType         string
	KeyId            string `json:",omitempty"`
}

func (a *API) toSSM(region string, p Parameter) ssmParameter {
	arn := p.ARN
	if arn == "" {
		arn = a.parameterARN(region, p.Name)
	}
	return ssmParameter{Name: p.Name, Type: p.Type, Value: p.Value, Version: p.Version, LastModifiedDate: epoch(p.Modified), ARN: arn,
		DataType: orDefault(p.DataType, "text"), Selector: p.Selector, SourceResult: p.SourceResult}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func keyID(typ string) string {
	if typ == TypeSecureString {
		return "alias/aws/ssm"
	}
	return ""
}

// mayReadParameter tells whether a scoped key may read what ref names: a
// parameter of its scope (by any spelling of its name, or its ARN), or a
// secret of its scope through /aws/reference/secretsmanager/.
func mayReadParameter(who Principal, ref string) bool {
	if who.Admin {
		return true
	}
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return false
	}
	if id, ok := strings.CutPrefix(name, secretReferencePrefix); ok {
		return who.Secrets[id]
	}
	for p := range who.Parameters {
		if canonicalName(p) == canonicalName(name) {
			return true
		}
	}
	return false
}

// ssmReadOnly are the operations a scoped key may call, each on its
// scope's names only.
var ssmReadOnly = map[string]bool{"GetParameter": true, "GetParameters": true}

// ssmResourceTypes are the resource types SSM's tagging operations name.
var ssmResourceTypes = map[string]bool{"Document": true, "ManagedInstance": true, "MaintenanceWindow": true, "Parameter": true,
	"PatchBaseline": true, "OpsItem": true, "OpsMetadata": true, "Automation": true, "Association": true}

func checkResourceType(t string) error {
	switch {
	case t == "Parameter":
		return nil
	case ssmResourceTypes[t]:
		return apiErr("InvalidResourceType", "The resource type is not valid: the embedded parameter store has parameters only.")
	}
	return apiErr("ValidationException", "1 validation error detected: Value '%s' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set: [Association, Automation, Document, MaintenanceWindow, ManagedInstance, OpsItem, OpsMetadata, Parameter, PatchBaseline]", t)
}

func (a *API) ssm(ctx context.Context, who Principal, region, op string, body []byte, note *accessNote) (any, error) {
	if !who.Admin && !ssmReadOnly[op] {
		return nil, denied(who, "ssm:"+op)
	}
	user := "arn:aws:iam::" + AccountID + ":user/jetway"
	switch op {
	case "PutParameter":
		var in struct {
			Name, Type, Value, Description, Tier, DataType, AllowedPattern, KeyId, Policies string
			Overwrite                                                                       bool
			Tags                                                                            []Tag
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if in.Policies != "" && in.Policies != "[]" {
			return nil, apiErr("InvalidPolicyTypeException", "The embedded parameter store does not support parameter policies.")
		}
		if in.KeyId != "" && in.Type != TypeSecureString && in.Type != "" {
			return nil, apiErr("ValidationException", "KeyId is required for SecureString type parameter only.")
		}
		v, tier, err := a.Store.putParameter(ctx, PutInput{Name: in.Name, Type: in.Type, Value: in.Value, Description: in.Description, Overwrite: in.Overwrite, User: user,
			Tier: in.Tier, DataType: in.DataType, AllowedPattern: in.AllowedPattern, Tags: in.Tags})
		if err != nil {
			return nil, err
		}
		note.wrote(in.Name)
		return map[string]any{"Version": v, "Tier": tier}, nil
	case "GetParameter":
		var in struct {
			Name           string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if !mayReadParameter(who, in.Name) {
			return nil, denied(who, "ssm:GetParameter on "+in.Name)
		}
		p, err := a.Store.GetParameter(ctx, in.Name, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		note.read(p.Name)
		return map[string]any{"Parameter": a.toSSM(region, p)}, nil
	case "GetParameters":
		var in struct {
			Names          []string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		for _, n := range in.Names {
			if !mayReadParameter(who, n) {
				return nil, denied(who, "ssm:GetParameters on "+n)
			}
		}
		found, invalid, err := a.Store.GetParameters(ctx, in.Names, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		params := []ssmParameter{}
		for _, p := range found {
			params = append(params, a.toSSM(region, p))
			note.read(p.Name)
		}
		if invalid == nil {
			invalid = []string{}
		}
		return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
	case "GetParametersByPath":
		var in struct {
			Path                      string
			Recursive, WithDecryption bool
			ParameterFilters          []ParameterFilter
			MaxResults                int
			NextToken                 string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		found, next, err := a.Store.getParametersByPath(ctx, in.Path, in.Recursive, in.WithDecryption, in.ParameterFilters, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		params := []ssmParameter{}
		for _, p := range found {
			params = append(params, a.toSSM(region, p))
			note.read(p.Name)
		}
		return withToken(map[string]any{"Parameters": params}, next), nil
	case "DescribeParameters":
		var in struct {
			Filters          []LegacyFilter
			ParameterFilters []ParameterFilter
			MaxResults       int
			NextToken        string
			Shared           bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if len(in.Filters) > 0 && len(in.ParameterFilters) > 0 {
			return nil, apiErr("ValidationException", "You can use either Filters or ParameterFilters in a single request.")
		}
		filters := in.ParameterFilters
		if len(in.Filters) > 0 {
			var err error
			if filters, err = legacyToParameterFilters(in.Filters); err != nil {
				return nil, err
			}
		}
		found, next, err := a.Store.describeParameters(ctx, filters, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		meta := []ssmMetadata{}
		if in.Shared {
			found, next = nil, "" // nothing is shared with this account
		}
		for _, p := range found {
			meta = append(meta, ssmMetadata{Name: p.Name, ARN: a.parameterARN(region, p.Name), Type: p.Type, Version: p.Version, LastModifiedDate: epoch(p.Modified),
				LastModifiedUser: p.ModifiedBy, Description: p.Description, AllowedPattern: p.AllowedPattern, Tier: p.Tier, Policies: []any{}, DataType: p.DataType, KeyId: keyID(p.Type)})
		}
		return withToken(map[string]any{"Parameters": meta}, next), nil
	case "GetParameterHistory":
		var in struct {
			Name           string
			WithDecryption bool
			MaxResults     int
			NextToken      string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		found, next, err := a.Store.GetParameterHistory(ctx, in.Name, in.WithDecryption, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		hist := []ssmHistory{}
		if len(found) > 0 {
			note.read(found[0].Name)
		}
		for _, p := range found {
			labels := p.Labels
			if labels == nil {
				labels = []string{}
			}
			hist = append(hist, ssmHistory{Name: p.Name, Type: p.Type, Value: p.Value, Version: p.Version, LastModifiedDate: epoch(p.Modified),
				LastModifiedUser: p.ModifiedBy, Description: p.Description, AllowedPattern: p.AllowedPattern, Labels: labels, Tier: p.Tier, Policies: []any{}, DataType: p.DataType, KeyId: keyID(p.Type)})
		}
		return withToken(map[string]any{"Parameters": hist}, next), nil
	case "DeleteParameter":
		var in struct{ Name string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if err := a.Store.DeleteParameter(ctx, in.Name); err != nil {
			return nil, err
		}
		note.wrote(in.Name)
		return map[string]any{}, nil
	case "DeleteParameters":
		var in struct{ Names []string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		deleted, invalid, err := a.Store.DeleteParameters(ctx, in.Names)
		if err != nil {
			return nil, err
		}
		if deleted == nil {
			deleted = []string{}
		} else {
			note.wrote(deleted...)
		}
		if invalid == nil {
			invalid = []string{}
		}
		return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
	case "LabelParameterVersion":
		var in struct {
			Name             string
			ParameterVersion int64
			Labels           []string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		version, invalid, stored, err := a.Store.LabelParameterVersion(ctx, in.Name, in.ParameterVersion, in.Labels)
		if err != nil {
			return nil, err
		}
		note.wrote(stored)
		return map[string]any{"InvalidLabels": invalid, "ParameterVersion": version}, nil
	case "UnlabelParameterVersion":
		var in struct {
			Name             string
			ParameterVersion int64
			Labels           []string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		removed, invalid, stored, err := a.Store.UnlabelParameterVersion(ctx, in.Name, in.ParameterVersion, in.Labels)
		if err != nil {
			return nil, err
		}
		note.wrote(stored)
		return map[string]any{"RemovedLabels": removed, "InvalidLabels": invalid}, nil
	case "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource":
		var in struct {
			ResourceType, ResourceId string
			Tags                     []Tag
			TagKeys                  []string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if err := checkResourceType(in.ResourceType); err != nil {
			return nil, err
		}
		if op == "ListTagsForResource" {
			tags, err := a.Store.ParameterTags(ctx, in.ResourceId)
			if err != nil {
				return nil, err
			}
			return map[string]any{"TagList": tags}, nil
		}
		if op == "AddTagsToResource" && len(in.Tags) == 0 {
			return nil, apiErr("ValidationException", "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
		}
		if op == "RemoveTagsFromResource" && len(in.TagKeys) == 0 {
			return nil, apiErr("ValidationException", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
		}
		if op == "AddTagsToResource" {
			in.TagKeys = nil
		} else {
			in.Tags = nil
		}
		stored, err := a.Store.TagParameter(ctx, in.ResourceId, in.Tags, in.TagKeys)
		if err != nil {
			return nil, err
		}
		note.wrote(stored)
		return map[string]any{}, nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "the embedded parameter store does not implement ssm:" + op, Status: http.StatusBadRequest}
}

func withToken(m map[string]any, next string) map[string]any {
	if next != "" {
		m["NextToken"] = next
	}
	return m
}
