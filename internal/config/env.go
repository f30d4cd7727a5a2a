package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every configuration environment variable.
const EnvPrefix = "BERTH_"

// Option is one configuration option: its YAML path and its environment variable.
type Option struct {
	Path string // e.g. "registry.delete_enabled"
	Env  string // e.g. "BERTH_REGISTRY_DELETE_ENABLED"
}

// Options lists every option of Config, in declaration order.
func Options() []Option {
	var out []Option
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(path string, _ reflect.Value) error {
		out = append(out, Option{Path: path, Env: envName(path)})
		return nil
	})
	return out
}

func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}

// walk calls fn for every leaf field of the struct v with its dotted YAML path.
func walk(v reflect.Value, prefix string, fn func(path string, f reflect.Value) error) error {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		path := prefix + name
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := walk(f, path+".", fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(path, f); err != nil {
			return err
		}
	}
	return nil
}

// applyEnv sets every option whose variable is present in environ and reports every
// value that does not fit.
func applyEnv(cfg *Config, environ []string) Problems {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	var p Problems
	_ = walk(reflect.ValueOf(cfg).Elem(), "", func(path string, f reflect.Value) error {
		name := envName(path)
		s, ok := env[name]
		if !ok {
			return nil
		}
		if err := setValue(f, s); err != nil {
			p = append(p, fmt.Sprintf("%s (%s): %v", name, path, err))
		}
		return nil
	})
	return p
}

func setValue(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration; write e.g. %s", s, durationExample(s))
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(n)
	case reflect.Slice, reflect.Map:
		// Lists and maps (users, rules) are given as YAML or JSON flow text.
		return yaml.Unmarshal([]byte(s), f.Addr().Interface())
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported option type %s", f.Type())
	}
	return nil
}
