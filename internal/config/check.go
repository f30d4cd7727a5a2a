package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problems is every problem found in a configuration, in the order found: a file is
// read once and all that is wrong with it is said at once, each with the option's name
// (and line), what was found and what is expected.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// Join merges the problems of errs (Problems or any error) into one Problems, or returns
// nil when there are none. An error that is not Problems is returned alone: it means the
// configuration could not be read at all.
func Join(errs ...error) error {
	var all Problems
	for _, err := range errs {
		var p Problems
		switch {
		case err == nil:
		case errors.As(err, &p):
			all = append(all, p...)
		default:
			return err
		}
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

var durationType = reflect.TypeFor[time.Duration]()

// checkYAML walks the document against the type of the value it is decoded into and
// reports every key that is no option (with the nearest one that is) and every value
// that does not fit its option, where YAML's own decoder would say "field registery
// not found in type config.Config" or "cannot unmarshal !!str `30` into time.Duration".
func checkYAML(doc *yaml.Node, t reflect.Type) Problems {
	var p Problems
	if doc.Kind == yaml.DocumentNode {
		for _, n := range doc.Content {
			checkNode(n, t, "", &p)
		}
		return p
	}
	checkNode(doc, t, "", &p)
	return p
}

func checkNode(n *yaml.Node, t reflect.Type, path string, p *Problems) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	at := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if path != "" {
			msg = path + ": " + msg
		}
		*p = append(*p, fmt.Sprintf("line %d: %s", n.Line, msg))
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			at("expects a duration such as 30s, 5m or 1h30m, not a %s", kindName(n.Kind))
			return
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			at("%s is not a duration; write e.g. %s", shown(n), durationExample(n.Value))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkNode(n, t.Elem(), path, p)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			at("expects a mapping of options (key: value lines), not a %s", kindName(n.Kind))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown option %q", k.Value)
				if s := suggest(k.Value, path, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				if path != "" {
					msg = path + ": " + msg
				}
				*p = append(*p, fmt.Sprintf("line %d: %s", k.Line, msg))
				continue
			}
			checkNode(v, f, join(path, k.Value), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			at("expects a list, not a %s", kindName(n.Kind))
			return
		}
		for i, e := range n.Content {
			checkNode(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			at("expects a mapping, not a %s", kindName(n.Kind))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), p)
		}
	case reflect.Interface:
	default:
		if n.Kind != yaml.ScalarNode {
			at("expects a single value, not a %s", kindName(n.Kind))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			at("%s is not %s", shown(n), expected(t))
		}
	}
}

// shown writes a scalar as it was written: quoted if it is a string, bare if a number.
func shown(n *yaml.Node) string {
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML names of a struct's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "single value"
}

// expected says in words what a scalar option takes.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// durationExample suggests the duration the user probably meant: a bare number is
// taken as seconds.
func durationExample(v string) string {
	if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n >= 0 {
		return strconv.FormatFloat(n, 'f', -1, 64) + "s"
	}
	return "30s, 5m or 1h30m"
}

// suggest returns the known option nearest to key: a sibling within a few edits, or
// the full path of an option of that name elsewhere (a key at the wrong level).
func suggest(key, path string, fields map[string]reflect.Type) string {
	best, bestDist := "", len(key)/3+2
	for name := range fields {
		if d := editDistance(key, name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return best
	}
	if path == "" || !strings.Contains(path, "[") {
		for _, o := range Options() {
			if last := o.Path[strings.LastIndex(o.Path, ".")+1:]; last == key && o.Path != join(path, key) {
				return o.Path
			}
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
