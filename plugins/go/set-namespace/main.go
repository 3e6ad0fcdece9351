// Command set-namespace is a KRM function: it sets metadata.namespace on every
// namespaced item of the ResourceList read from stdin to functionConfig.namespace
// (or functionConfig.data.namespace for a ConfigMap config) and writes the list
// to stdout as JSON. Built with GOOS=wasip1 GOARCH=wasm it is a kiln plugin;
// built for the host it is a kustomize exec function. Standard library only.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// clusterScoped lists the kinds that carry no namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "PersistentVolume": true, "StorageClass": true,
	"PriorityClass": true, "IngressClass": true,
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(fmt.Sprintf("set-namespace: reading stdin: %v", err))
	}
	var rl map[string]any
	if err := json.Unmarshal(input, &rl); err != nil {
		fail(fmt.Sprintf("set-namespace: the input is not a JSON ResourceList: %v", err))
	}
	namespace := configNamespace(rl["functionConfig"])
	if namespace == "" {
		writeResult(rl, "set-namespace: functionConfig.namespace is missing or empty")
		return
	}
	items, _ := rl["items"].([]any)
	for _, raw := range items {
		item, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		if kind, _ := item["kind"].(string); clusterScoped[kind] {
			continue
		}
		meta, ok := item["metadata"].(map[string]any)
		if !ok {
			meta = map[string]any{}
			item["metadata"] = meta
		}
		meta["namespace"] = namespace
	}
	write(rl)
}

// configNamespace reads `namespace` from the config, or from its `data` when the
// config is a ConfigMap.
func configNamespace(config any) string {
	m, _ := config.(map[string]any)
	if data, ok := m["data"].(map[string]any); ok {
		if ns, ok := data["namespace"].(string); ok {
			return ns
		}
	}
	ns, _ := m["namespace"].(string)
	return ns
}

// writeResult appends an error result to the list, writes it and exits 1.
func writeResult(rl map[string]any, message string) {
	results, _ := rl["results"].([]any)
	rl["results"] = append(results, map[string]any{"message": message, "severity": "error"})
	write(rl)
	os.Exit(1)
}

func write(rl map[string]any) {
	out, err := json.Marshal(rl)
	if err != nil {
		fail(fmt.Sprintf("set-namespace: encoding the output: %v", err))
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(1)
}
