package server

import (
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/metadata"
)

// unreachableMeta and unreachableBlobs stand behind the wrappers in the test below: every
// call that reaches them panics (their embedded interface is nil), so a wrapper method
// that passes a call through without measuring it records nothing.
type unreachableMeta struct{ metadata.Store }

type unreachableBlobs struct{ blobstore.Store }

// TestStoreWrappersMeasureEveryMethod walks every method of metadata.Store (all its roles)
// and blobstore.Store by reflection, calls it on the metrics wrapper, and checks that the
// call recorded exactly one observation, under the method's own name in snake case. A
// method the wrapper forgot, or one that reuses another's name, fails here; a role added
// to metadata.Store without wrapper methods does not even compile (meteredMeta embeds
// nothing).
func TestStoreWrappersMeasureEveryMethod(t *testing.T) {
	wrappers := []struct {
		store string
		iface reflect.Type
		wrap  func(*storeMetrics) any
	}{
		{"metadata", reflect.TypeFor[metadata.Store](), func(m *storeMetrics) any { return meteredMeta{next: unreachableMeta{}, m: m} }},
		{"blobs", reflect.TypeFor[blobstore.Store](), func(m *storeMetrics) any { return meteredBlobs{next: unreachableBlobs{}, m: m} }},
	}
	for _, w := range wrappers {
		if w.iface.NumMethod() == 0 {
			t.Fatalf("%s store has no methods: the walk would check nothing", w.store)
		}
		for i := range w.iface.NumMethod() {
			method := w.iface.Method(i)
			t.Run(w.store+"."+method.Name, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				m := newStoreMetrics(reg)
				fn := reflect.ValueOf(w.wrap(m)).MethodByName(method.Name)
				if !fn.IsValid() {
					t.Fatalf("the %s wrapper has no method %s", w.store, method.Name)
				}
				args := make([]reflect.Value, fn.Type().NumIn())
				for j := range args {
					args[j] = reflect.Zero(fn.Type().In(j))
				}
				func() {
					defer func() { _ = recover() }() // the store behind panics, after the wrapper started timing
					fn.Call(args)
				}()
				got := observations(t, reg)
				want := map[string]uint64{w.store + "/" + snake(method.Name): 1}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("calling %s recorded %v, want %v", method.Name, got, want)
				}
			})
		}
	}
}

// observations counts the duration samples per store/op.
func observations(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "berth_store_operation_duration_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["store"]+"/"+labels["op"]] += mt.GetHistogram().GetSampleCount()
		}
	}
	return got
}

// snake turns a method name into its op label: LinkExistingBlob → link_existing_blob.
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
