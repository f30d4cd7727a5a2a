package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestLogLineSchema pins the audit log line: the keys and their types are the schema
// docs/lifecycle.md documents, and log processors parse; changing them breaks those.
func TestLogLineSchema(t *testing.T) {
	var buf bytes.Buffer
	e := New(Options{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Replica: "r1"})
	at := time.Date(2026, 12, 2, 10, 0, 0, 123, time.UTC)
	e.Emit(context.Background(), Event{
		Type: TagMoved, Time: at, Actor: "alice", Subject: "team/app:v1",
		Data: Data{Repository: "team/app", Tag: "v1", Digest: "sha256:new", Old: "sha256:old"},
	})
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if got, want := keys(line), []string{"actor", "data", "id", "level", "msg", "replica", "subject", "time", "type"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	want := map[string]any{"level": "INFO", "msg": "audit", "type": TagMoved, "actor": "alice", "replica": "r1", "subject": "team/app:v1",
		"time": "2026-12-02T10:00:00.000000123Z"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if id, _ := line["id"].(string); len(id) < 16 {
		t.Errorf("id %q is not a unique id", id)
	}
	data := line["data"].(map[string]any)
	if got, want := data, map[string]any{"repository": "team/app", "tag": "v1", "digest": "sha256:new", "old": "sha256:old"}; !reflect.DeepEqual(got, want) {
		t.Errorf("data = %v, want %v (empty fields left out)", got, want)
	}
}

// receiver is a webhook endpoint whose behaviour the test scripts: each request takes
// the next of its answers (the last repeats); an answer of 0 holds the request until
// release is closed.
type receiver struct {
	mu      sync.Mutex
	answers []int
	got     []cloudEventJSON
	sigOK   []bool
	arrived chan struct{}
	release chan struct{}
	secret  string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	status := rc.answers[0]
	if len(rc.answers) > 1 {
		rc.answers = rc.answers[1:]
	}
	rc.mu.Unlock()
	rc.arrived <- struct{}{}
	if status == 0 {
		<-rc.release
		status = http.StatusOK
	}
	if status == http.StatusOK {
		var ce cloudEventJSON
		if err := json.Unmarshal(body, &ce); err != nil || r.Header.Get("Content-Type") != "application/cloudevents+json; charset=utf-8" {
			status = http.StatusBadRequest
		} else {
			rc.mu.Lock()
			rc.got = append(rc.got, ce)
			rc.sigOK = append(rc.sigOK, r.Header.Get(SignatureHeader) == Sign(rc.secret, body))
			rc.mu.Unlock()
		}
	}
	w.WriteHeader(status)
}

// TestWebhookThatIsSlowThenFailsThenRecovers: while the receiver holds a request, pushes
// go on (Emit never waits) and what overflows the queue is dropped and counted; then it
// fails twice, which are retried with backoff; then it recovers and every queued event
// arrives, in order, signed, as a CloudEvent.
func TestWebhookThatIsSlowThenFailsThenRecovers(t *testing.T) {
	const queue = 4
	rc := &receiver{answers: []int{0, 503, 500, 200}, arrived: make(chan struct{}, 100), release: make(chan struct{}), secret: "s3cret"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var warn bytes.Buffer
	e := New(Options{Webhooks: []Webhook{{URL: srv.URL + "/hook?token=x", Secret: rc.secret}}, QueueSize: queue,
		Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Source: "https://registry.example", Replica: "r1",
		Warn: slog.New(slog.NewTextHandler(&warn, nil))})
	emit := func(i int) {
		e.Emit(context.Background(), Event{Type: ManifestPushed, Actor: "ci", Subject: fmt.Sprintf("app@%d", i), Data: Data{Repository: "app", Size: int64(i)}})
	}
	emit(0)
	<-rc.arrived // held by the receiver
	for i := 1; i <= queue+3; i++ {
		emit(i) // returns although the receiver is stuck
	}
	if c := e.Webhooks()[0]; c.Dropped != 3 || c.Queued != queue {
		t.Fatalf("with the receiver stuck: %+v, want 3 dropped and %d queued", c, queue)
	}
	close(rc.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	c := e.Webhooks()[0]
	if c.Delivered != queue+1 || c.Retried != 2 || c.Failed != 0 || c.Lost != 0 || c.URL != srv.URL+"/hook" {
		t.Fatalf("counts %+v, want %d delivered after 2 retries (URL without its query)", c, queue+1)
	}
	var subjects []string
	for i, ce := range rc.got {
		subjects = append(subjects, ce.Subject)
		if ce.SpecVersion != "1.0" || ce.Type != ManifestPushed || ce.Source != "https://registry.example" || ce.ID == "" ||
			ce.Actor != "ci" || ce.Replica != "r1" || ce.DataContentType != "application/json" || ce.Data.Repository != "app" {
			t.Errorf("delivery %d is not the CloudEvent emitted: %+v", i, ce)
		}
		if _, err := time.Parse(time.RFC3339Nano, ce.Time); err != nil {
			t.Errorf("time %q: %v", ce.Time, err)
		}
		if !rc.sigOK[i] {
			t.Errorf("delivery %d: bad signature", i)
		}
	}
	if want := []string{"app@0", "app@1", "app@2", "app@3", "app@4"}; !reflect.DeepEqual(subjects, want) {
		t.Fatalf("delivered %v, want %v in order", subjects, want)
	}
	if !bytes.Contains(warn.Bytes(), []byte("events dropped")) || !bytes.Contains(warn.Bytes(), []byte("retrying")) {
		t.Errorf("drops and retries not logged:\n%s", warn.String())
	}
	if bytes.Contains(warn.Bytes(), []byte("token=x")) {
		t.Error("the webhook's query (a token) reached the log")
	}
}

func TestWebhookRefusalIsNotRetried(t *testing.T) {
	rc := &receiver{answers: []int{404, 200}, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	e := New(Options{Webhooks: []Webhook{{URL: srv.URL}}, Backoff: time.Millisecond})
	e.Emit(context.Background(), Event{Type: BlobDeleted})
	e.Emit(context.Background(), Event{Type: BlobDeleted})
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := e.Webhooks()[0]; c.Failed != 1 || c.Delivered != 1 || c.Retried != 0 {
		t.Fatalf("counts %+v, want the refused one failed and the next delivered", c)
	}
	if got := e.Emitted()[BlobDeleted]; got != 2 {
		t.Fatalf("Emitted = %d", got)
	}
}

// TestCloseGivesUpAtItsDeadline: a receiver that never answers cannot hold shutdown.
func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	rc := &receiver{answers: []int{0}, arrived: make(chan struct{}, 100), release: make(chan struct{})}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	defer close(rc.release)
	e := New(Options{Webhooks: []Webhook{{URL: srv.URL}}})
	e.Emit(context.Background(), Event{Type: TokenIssued})
	e.Emit(context.Background(), Event{Type: TokenIssued})
	<-rc.arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err == nil {
		t.Fatal("Close reported every event delivered")
	}
	if c := e.Webhooks()[0]; c.Lost != 2 || c.Delivered != 0 {
		t.Fatalf("counts %+v, want both lost", c)
	}
}

func TestNilEmitterEmitsNothing(t *testing.T) {
	var e *Emitter
	e.Emit(context.Background(), Event{Type: TagMoved})
	if err := e.Close(context.Background()); err != nil || e.Webhooks() != nil || len(e.Emitted()) != 0 {
		t.Fatal("a nil emitter did something")
	}
}
