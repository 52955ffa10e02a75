package coordinator

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mqcluster/mqcluster/api"
)

// FuzzDecodeSpec feeds arbitrary bodies to the job-spec decoder and its
// checks: they must reject or accept, never panic, and an accepted spec
// must have tasks with valid kinds.
func FuzzDecodeSpec(f *testing.F) {
	f.Add([]byte(`{"name": "x", "max_attempts": 2, "meta": {"a": "b"}, "tasks": [{"kind": "noop", "payload": "aGk="}]}`))
	f.Add([]byte(`{"tasks": []}`))
	f.Add([]byte(`{"tasks": [{"kind": "Bad"}]} trailing`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/jobs", bytes.NewReader(body))
		var spec api.JobSpec
		if decodeSpec(httptest.NewRecorder(), r, &spec, 1<<20) != nil {
			return
		}
		if validateSpec(&spec) != nil {
			return
		}
		if len(spec.Tasks) == 0 {
			t.Fatal("a spec with no tasks passed validation")
		}
	})
}
