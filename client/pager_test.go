package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/client/registrysim"
)

func tagNames(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		// Mixed case and separators, so byte order differs from a naive order.
		tags[i] = fmt.Sprintf("%s%05d", []string{"v", "V", "_", "1.", "a-"}[i%5], i)
	}
	return tags
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestTagsFromEverySimulatedRegistry(t *testing.T) {
	for _, kind := range registrysim.Kinds {
		for _, n := range []int{0, 1, 99, 100, 101, 250, 10000} {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				sim := registrysim.New(kind)
				defer sim.Close()
				want := tagNames(n)
				sim.AddTags("team/app", want...)
				c := client.New(client.WithPlainHTTP(true), client.WithPageSize(100))
				got, err := c.Tags(context.Background(), client.Repository{Host: sim.Host(), Name: "team/app"})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, sorted(want)) {
					t.Fatalf("got %d tags, want %d (first got %v)", len(got), len(want), got[:min(5, len(got))])
				}
			})
		}
	}
}

func TestDefaultPageSizeAgainstClampingRegistries(t *testing.T) {
	// The default n (1000) is more than gitlab, Docker Hub and Quay give; the walk must
	// still be complete.
	for _, kind := range []registrysim.Kind{registrysim.GitLab, registrysim.DockerHub, registrysim.Quay, registrysim.DistributionV3} {
		sim := registrysim.New(kind)
		want := tagNames(2500)
		sim.AddTags("r", want...)
		got, err := client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: sim.Host(), Name: "r"})
		sim.Close()
		if err != nil || !slices.Equal(got, sorted(want)) {
			t.Errorf("%s: %d tags, %v", kind, len(got), err)
		}
	}
}

// TestTagsChangingDuringWalk adds and deletes tags between pages: every tag present for
// the whole walk is returned, and nothing that never existed.
func TestTagsChangingDuringWalk(t *testing.T) {
	for _, kind := range registrysim.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			sim := registrysim.New(kind)
			defer sim.Close()
			initial := tagNames(250)
			sim.AddTags("r", initial...)
			deleted := []string{sorted(initial)[3], sorted(initial)[200]}
			added := []string{"0-early", "zz-late", "v00150x"}
			c := client.New(client.WithPlainHTTP(true), client.WithPageSize(100))
			seen := map[string]bool{}
			pages := 0
			for page, err := range c.TagPages(context.Background(), client.Repository{Host: sim.Host(), Name: "r"}) {
				if err != nil {
					t.Fatal(err)
				}
				if pages == 0 {
					sim.DeleteTags("r", deleted...)
					sim.AddTags("r", added...)
				}
				pages++
				for _, tag := range page {
					seen[tag] = true
				}
			}
			existed := map[string]bool{}
			for _, tag := range append(slices.Clone(initial), added...) {
				existed[tag] = true
			}
			for tag := range seen {
				if !existed[tag] {
					t.Errorf("returned %q, which never existed", tag)
				}
			}
			for _, tag := range initial {
				if !slices.Contains(deleted, tag) && !seen[tag] {
					t.Errorf("missed %q, present for the whole walk", tag)
				}
			}
		})
	}
}

func TestDockerHubOfficialImagesRefuseWithAClearError(t *testing.T) {
	sim := registrysim.New(registrysim.DockerHub)
	defer sim.Close()
	sim.AddTags("library/alpine", "3.20")
	_, err := client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: sim.Host(), Name: "library/alpine"})
	var ae *client.AuthError
	if !errors.As(err, &ae) || ae.User != "" || ae.Scope != "repository:library/alpine:pull" || client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("err = %v, want an AuthError asking for credentials to pull", err)
	}
}

func TestPageCapErrorsInsteadOfLooping(t *testing.T) {
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i++
		w.Header().Set("Link", fmt.Sprintf(`</v2/r/tags/list?page=%d>; rel="next"`, i))
		fmt.Fprintf(w, `{"tags":["t%d"]}`, i)
	}))
	defer srv.Close()
	c := client.New(client.WithPlainHTTP(true), client.WithMaxPages(50))
	_, err := c.Tags(context.Background(), client.Repository{Host: strings.TrimPrefix(srv.URL, "http://"), Name: "r"})
	if err == nil || !strings.Contains(err.Error(), "more than 50 pages") {
		t.Fatalf("err = %v, want the page cap", err)
	}
}

func TestStopsOnRepeatedOrOffOriginLinks(t *testing.T) {
	tests := []struct {
		name, link string
		wantErr    string
		want       []string
	}{
		{"link to itself", `</v2/r/tags/list?n=1000>; rel="next"`, "", []string{"a", "b"}},
		{"page with nothing new", `</v2/r/tags/list?again=1>; rel="next"`, "", []string{"a", "b"}},
		{"other host", `<http://evil.example/v2/r/tags/list>; rel="next"`, "not following it off the registry", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", tt.link)
				fmt.Fprint(w, `{"tags":["b","a"]}`)
			}))
			defer srv.Close()
			got, err := client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: strings.TrimPrefix(srv.URL, "http://"), Name: "r"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestRetriesWithoutNOnBadRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("n") {
			http.Error(w, `{"errors":[{"code":"PAGINATION_NUMBER_INVALID"}]}`, http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"tags":["x","y"]}`)
	}))
	defer srv.Close()
	got, err := client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: strings.TrimPrefix(srv.URL, "http://"), Name: "r"})
	if err != nil || !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("got %v, %v", got, err)
	}
}
