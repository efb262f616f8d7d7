package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

// The statuses of a rollout (State.Status).
const (
	StatusRunning    = "running"     // a run is on it, or died on it (resume)
	StatusPaused     = "paused"      // a gate failed with --on-failure pause, or it timed out
	StatusHalted     = "halted"      // a gate failed; the stage's devices not updated got the previous release
	StatusRolledBack = "rolled-back" // a gate failed; every device of the stage got the previous release
	StatusDone       = "done"
	StatusAborted    = "aborted" // rollout abort
)

// The statuses of one stage (StageState.Status).
const (
	StagePending    = "pending"
	StagePublishing = "publishing"
	StageGating     = "gating"
	StageBaking     = "baking"
	StagePassed     = "passed"
	StageFailed     = "failed"
	StageTimedOut   = "timed-out"
)

// maxStateSize caps the state ParseState accepts.
const maxStateSize = 256 << 10

// State is a rollout's state, retained at P.u/rollout/state: the plan,
// where it stands, per-stage counts, who started it and when. It holds
// counts, not device lists, so that it stays small for any fleet: the
// devices of a percent stage are recomputed from the stable hash.
type State struct {
	// Sequence and Hash are the release's; Package and Version what the
	// gates judge.
	Sequence int64  `json:"sequenceNumber"`
	Hash     string `json:"hash"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Steps    string `json:"steps"`
	// Previous is the catalog release restored on a failed gate (0: none).
	Previous   int64  `json:"previousSequence,omitempty"`
	MinUpdated string `json:"minUpdated"`
	MaxFailed  string `json:"maxFailed"`
	Bake       string `json:"bake"`
	OnFailure  string `json:"onFailure"`
	Signed     bool   `json:"signed"`

	Status string `json:"status"`
	// Stage is the index of the stage in progress, or of the last one.
	Stage     int          `json:"stage"`
	Stages    []StageState `json:"stages"`
	StartedBy string       `json:"startedBy"`
	StartedAt time.Time    `json:"startedAt"`
	UpdatedAt time.Time    `json:"updatedAt"`
	// By is who acted last (a resume, an abort), when not the starter.
	By      string `json:"by,omitempty"`
	Message string `json:"message,omitempty"`
}

// StageState is one stage's progress.
type StageState struct {
	Step     string    `json:"step"`
	Status   string    `json:"status"`
	Targets  int       `json:"targets"`
	Total    int       `json:"total"`
	Updated  int       `json:"updated"`
	Failed   int       `json:"failed"`
	Pending  int       `json:"pending"`
	Restored int       `json:"restored,omitempty"`
	Started  time.Time `json:"startedAt,omitzero"`
	Ended    time.Time `json:"endedAt,omitzero"`
}

// Same says whether st is the rollout of this release with these steps.
func (st *State) Same(hash, steps string) bool { return st.Hash == hash && st.Steps == steps }

// Active says whether a run is on the rollout or it can be resumed.
func (st *State) Active() bool { return st.Status == StatusRunning || st.Status == StatusPaused }

// Encode is the state as retained.
func (st *State) Encode() ([]byte, error) { return json.Marshal(st) }

// ParseState decodes a retained state.
func ParseState(b []byte) (*State, error) {
	if len(b) > maxStateSize {
		return nil, fmt.Errorf("rollout state: %d bytes, more than %d", len(b), maxStateSize)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("rollout state: %w", err)
	}
	if st.Hash == "" || len(st.Stages) == 0 || st.Stage < 0 || st.Stage >= len(st.Stages) {
		return nil, errors.New("rollout state: no release or stages")
	}
	// Resume walks the steps and their stages side by side: they must be
	// the same.
	steps, err := ParseSteps(st.Steps)
	if err != nil {
		return nil, fmt.Errorf("rollout state: %w", err)
	}
	if len(steps) != len(st.Stages) {
		return nil, fmt.Errorf("rollout state: %d steps but %d stages", len(steps), len(st.Stages))
	}
	for i, s := range steps {
		if st.Stages[i].Step != s.String() {
			return nil, fmt.Errorf("rollout state: stage %d is %q, its step %q", i+1, st.Stages[i].Step, s.String())
		}
	}
	return &st, nil
}

// Reader reads retained messages.
type Reader interface {
	ReadRetained(ctx context.Context, topic string) ([]byte, bool, error)
}

// Retained is what the state and the lock need of a broker.
type Retained interface {
	Reader
	PublishVerified(ctx context.Context, topic string, payload []byte) error
	Clear(ctx context.Context, topic string) error
}

// ReadState reads the rollout state retained on topic: nil when there is
// none.
func ReadState(ctx context.Context, r Reader, topic string) (*State, error) {
	b, found, err := r.ReadRetained(ctx, topic)
	if err != nil || !found || len(b) == 0 {
		return nil, err
	}
	return ParseState(b)
}

// WriteState retains st on topic, read back.
func WriteState(ctx context.Context, r Retained, topic string, st *State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := r.PublishVerified(ctx, topic, b); err != nil {
		return fmt.Errorf("rollout state: %w", err)
	}
	return nil
}

// PublishedRelease finds the release of st where its stages published it
// (the desired topic of the first stage that has one with st's digest),
// so that a rollout can be resumed without its manifest file: the bytes
// devices were sent, and the manifest they hold.
func PublishedRelease(ctx context.Context, b Broker, st *State) (*release.Manifest, []byte, error) {
	steps, err := ParseSteps(st.Steps)
	if err != nil {
		return nil, nil, err
	}
	topics := b.Topics()
	for i, step := range steps {
		if st.Stages[i].Status == StagePending {
			break
		}
		var where []string
		switch step.Kind {
		case Cohort:
			t, _ := topics.Cohort(step.Cohort)
			where = []string{t}
		case Fleet:
			where = []string{topics.Fleet()}
		default:
			chosen, _, err := publish.PercentTargets(ctx, b, topics, step.Percent)
			if err != nil {
				return nil, nil, err
			}
			for _, t := range chosen {
				where = append(where, t.Topic)
			}
		}
		for _, topic := range where {
			m, payload, _, err := publish.ReadManifest(ctx, b, topic)
			if err == nil && m != nil && m.Hash == st.Hash {
				return m, payload, nil
			}
		}
	}
	return nil, nil, hint.Wrap(fmt.Errorf("release %d of the rollout is not retained where its stages published it", st.Sequence),
		"give the manifest (and its files) to 'otactl rollout resume MANIFEST'")
}
