package health

import (
	"bytes"
	"encoding/json"
	"os"

	"sigs.k8s.io/yaml"
)

// FromJSON decodes an object as the Argo CD controller holds it: an unstructured map in which
// integers are int64 and other numbers float64 (k8s.io/apimachinery's unstructured JSON scheme).
func FromJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	return convertNumbers(obj).(map[string]any), nil
}

func convertNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, item := range t {
			t[k] = convertNumbers(item)
		}
	case []any:
		for i, item := range t {
			t[i] = convertNumbers(item)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
	}
	return v
}

// FromYAMLFile reads a test object as Argo CD's own health tests do (getObj in
// util/lua/health_test.go): sigs.k8s.io/yaml into a map, so numbers are float64.
func FromYAMLFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj := make(map[string]any)
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}
