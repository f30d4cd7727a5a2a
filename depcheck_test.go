package berth_test

import (
	"bufio"
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The import rules of Berth are the package table of docs/architecture.md ("Packages and
// their direction"); this test parses it, so the document cannot drift from the code.

// rule is one row of the table: the packages it covers and what they may import.
type rule struct {
	line     int
	packages []string // patterns: a path relative to the module, or "a/..." for a and below
	allowed  []string // patterns of Berth packages they may import
	used     map[string]bool
	matched  bool
}

func matches(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// backticked returns the `quoted` items of a table cell.
func backticked(cell string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(cell, "`")
		if !ok {
			return out
		}
		item, after, ok := strings.Cut(rest, "`")
		if !ok {
			return out
		}
		out = append(out, item)
		cell = after
	}
}

// readRules parses the package table of the architecture document.
func readRules(t *testing.T, path string) []*rule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []*rule
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Packages and their direction"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("%s:%d: a row has three cells (package, job, may import): %q", path, n, line)
		}
		r := &rule{line: n, packages: backticked(cells[0]), allowed: backticked(cells[2]), used: map[string]bool{}}
		if len(r.allowed) == 0 && strings.TrimSpace(cells[2]) != "—" {
			t.Fatalf("%s:%d: the last cell lists `packages` or is —: %q", path, n, cells[2])
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no package table under \"## Packages and their direction\"", path)
	}
	return rules
}

func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

// berthPackages maps each package of the module (relative path, "." for the root) to the
// Berth packages its non-test files import.
func berthPackages(t *testing.T, module string) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		p, err := build.Default.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		var imports []string
		for _, imp := range p.Imports {
			if imp == module {
				imports = append(imports, ".")
			} else if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				imports = append(imports, rel)
			}
		}
		pkgs[filepath.ToSlash(path)] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestImportsFollowTheArchitecture fails when a package imports what the table in
// docs/architecture.md does not allow it, when a package has no row, when a row covers
// no package or allows an import none of its packages makes.
func TestImportsFollowTheArchitecture(t *testing.T) {
	const doc = "docs/architecture.md"
	rules := readRules(t, doc)
	pkgs := berthPackages(t, modulePath(t))
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages: the walk is broken", len(pkgs))
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, pkg := range names {
		var mine []*rule
		for _, r := range rules {
			for _, pat := range r.packages {
				if matches(pat, pkg) {
					mine = append(mine, r)
					r.matched = true
					break
				}
			}
		}
		if len(mine) != 1 {
			t.Errorf("%s: package %s has %d rows in the package table, want one", doc, pkg, len(mine))
			continue
		}
		r := mine[0]
		for _, imp := range pkgs[pkg] {
			ok := false
			for _, pat := range r.allowed {
				if matches(pat, imp) {
					ok, r.used[pat] = true, true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which its row (%s:%d) does not allow", pkg, imp, doc, r.line)
			}
		}
	}
	for _, r := range rules {
		if !r.matched {
			t.Errorf("%s:%d: the row of %v covers no package", doc, r.line, r.packages)
		}
		for _, pat := range r.allowed {
			if !r.used[pat] {
				t.Errorf("%s:%d: %v may import %s but none does: drop it from the row", doc, r.line, r.packages, pat)
			}
		}
	}
}
