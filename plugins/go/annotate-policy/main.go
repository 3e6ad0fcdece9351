// Command annotate-policy is a KRM function of the size real Go functions have: it
// decodes the ResourceList into typed structs, checks every item's labels against
// the patterns of its functionConfig (regexp), renders annotations from text/template
// templates, stamps ConfigMaps and Secrets with a content hash, and reports what it
// found as results. Standard library only; it also links net/http, net/url and
// encoding/xml (as functions built on client libraries do), so its module and its
// package initialisation are those of a realistic Go function.
//
// functionConfig (a bare map, or a ConfigMap whose data holds the same keys as strings):
//
//	annotations:   {key: template}  rendered per item with .Kind .Name .Namespace .Labels
//	requireLabels: {key: pattern}   an item without a matching label gets a warning
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

// ResourceList is the KRM function wire format.
type ResourceList struct {
	APIVersion     string           `json:"apiVersion"`
	Kind           string           `json:"kind"`
	Items          []map[string]any `json:"items"`
	FunctionConfig json.RawMessage  `json:"functionConfig,omitempty"`
	Results        []Result         `json:"results,omitempty"`
}

// Result is one finding.
type Result struct {
	Message     string       `json:"message"`
	Severity    string       `json:"severity"`
	ResourceRef *ResourceRef `json:"resourceRef,omitempty"`
	Field       *Field       `json:"field,omitempty"`
}

// ResourceRef names an item.
type ResourceRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

// Field is the path a result is about.
type Field struct {
	Path string `json:"path"`
}

// Config is the functionConfig.
type Config struct {
	Annotations   map[string]string `json:"annotations"`
	RequireLabels map[string]string `json:"requireLabels"`
	Data          map[string]string `json:"data"`
}

// Meta is what the templates see of an item.
type Meta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Name       string            `json:"name"`
	Namespace  string            `json:"namespace"`
	Labels     map[string]string `json:"labels"`
}

// provenance is an XML record of where the annotations came from, for the
// `annotate-policy.kiln.dev/source` annotation.
type provenance struct {
	XMLName  xml.Name `xml:"source"`
	Function string   `xml:"function,attr"`
	Keys     []string `xml:"key"`
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var rl ResourceList
	if err := json.Unmarshal(input, &rl); err != nil {
		fail("the input is not a JSON ResourceList: %v", err)
	}
	cfg, err := readConfig(rl.FunctionConfig)
	if err != nil {
		fail("functionConfig: %v", err)
	}
	templates, err := parseTemplates(cfg.Annotations)
	if err != nil {
		report(&rl, Result{Message: err.Error(), Severity: "error"})
		write(&rl)
		os.Exit(1)
	}
	patterns := map[string]*regexp.Regexp{}
	for key, pattern := range cfg.RequireLabels {
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			report(&rl, Result{Message: fmt.Sprintf("requireLabels.%s: %v", key, err), Severity: "error"})
			write(&rl)
			os.Exit(1)
		}
		patterns[key] = re
	}
	source := sourceAnnotation(templates)
	for _, item := range rl.Items {
		var meta Meta
		if err := decodeMeta(item, &meta); err != nil {
			report(&rl, Result{Message: err.Error(), Severity: "error"})
			continue
		}
		ref := &ResourceRef{APIVersion: meta.APIVersion, Kind: meta.Kind, Name: meta.Name, Namespace: meta.Namespace}
		for _, key := range sortedKeys(patterns) {
			value, ok := meta.Labels[key]
			if !ok || !patterns[key].MatchString(value) {
				report(&rl, Result{
					Message:     fmt.Sprintf("label %q is %q, which does not match %q", key, value, cfg.RequireLabels[key]),
					Severity:    "warning",
					ResourceRef: ref,
					Field:       &Field{Path: "metadata.labels." + key},
				})
			}
		}
		annotations := map[string]string{"annotate-policy.kiln.dev/source": source}
		for _, key := range sortedKeys(templates) {
			var out bytes.Buffer
			if err := templates[key].Execute(&out, meta); err != nil {
				report(&rl, Result{Message: fmt.Sprintf("annotations.%s: %v", key, err), Severity: "error", ResourceRef: ref})
				continue
			}
			annotations[key] = out.String()
		}
		if meta.Kind == "ConfigMap" || meta.Kind == "Secret" {
			annotations["annotate-policy.kiln.dev/content-hash"] = contentHash(item)
		}
		setAnnotations(item, annotations)
	}
	write(&rl)
	for _, r := range rl.Results {
		if r.Severity == "error" {
			os.Exit(1)
		}
	}
}

// readConfig reads a bare map or a ConfigMap (whose data values are JSON or plain text).
func readConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	if len(raw) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, err
	}
	for key, text := range cfg.Data {
		var target any
		switch key {
		case "annotations":
			target = &cfg.Annotations
		case "requireLabels":
			target = &cfg.RequireLabels
		default:
			return cfg, fmt.Errorf("data.%s: unknown key", key)
		}
		if err := json.Unmarshal([]byte(text), target); err != nil {
			return cfg, fmt.Errorf("data.%s: %v", key, err)
		}
	}
	return cfg, nil
}

func parseTemplates(src map[string]string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"upper":     strings.ToUpper,
		"lower":     strings.ToLower,
		"queryEsc":  url.QueryEscape,
		"pathEsc":   url.PathEscape,
		"status":    http.StatusText,
		"canonical": http.CanonicalHeaderKey,
	}
	out := map[string]*template.Template{}
	for key, text := range src {
		t, err := template.New(key).Funcs(funcs).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("annotations.%s: %v", key, err)
		}
		out[key] = t
	}
	return out, nil
}

// decodeMeta fills the exported fields of meta from the item, by their json tags.
func decodeMeta(item map[string]any, meta *Meta) error {
	metadata, _ := item["metadata"].(map[string]any)
	v := reflect.ValueOf(meta).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		source := metadata
		if tag == "apiVersion" || tag == "kind" {
			source = item
		}
		raw, ok := source[tag]
		if !ok {
			continue
		}
		field := v.Field(i)
		switch field.Kind() {
		case reflect.String:
			s, ok := raw.(string)
			if !ok {
				return fmt.Errorf("%s is %T, not a string", tag, raw)
			}
			field.SetString(s)
		case reflect.Map:
			m, _ := raw.(map[string]any)
			out := reflect.MakeMapWithSize(field.Type(), len(m))
			for k, val := range m {
				out.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(fmt.Sprint(val)))
			}
			field.Set(out)
		}
	}
	if meta.Name == "" {
		return fmt.Errorf("a %s without metadata.name", meta.Kind)
	}
	return nil
}

func sourceAnnotation(templates map[string]*template.Template) string {
	out, err := xml.Marshal(provenance{Function: "annotate-policy", Keys: sortedKeys(templates)})
	if err != nil {
		fail("encoding the source annotation: %v", err)
	}
	return string(out)
}

// contentHash is the sha256 of the item's data, as canonical JSON.
func contentHash(item map[string]any) string {
	data, _ := json.Marshal(map[string]any{"data": item["data"], "binaryData": item["binaryData"]})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func setAnnotations(item map[string]any, annotations map[string]string) {
	metadata, ok := item["metadata"].(map[string]any)
	if !ok {
		metadata = map[string]any{}
		item["metadata"] = metadata
	}
	existing, ok := metadata["annotations"].(map[string]any)
	if !ok {
		existing = map[string]any{}
		metadata["annotations"] = existing
	}
	for k, v := range annotations {
		existing[k] = v
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func report(rl *ResourceList, r Result) {
	rl.Results = append(rl.Results, r)
}

func write(rl *ResourceList) {
	out, err := json.Marshal(rl)
	if err != nil {
		fail("encoding the output: %v", err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "annotate-policy: "+format+"\n", args...)
	os.Exit(1)
}
