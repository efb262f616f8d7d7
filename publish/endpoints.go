package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// EndpointReader is what the core reads on a broker endpoint other than
// the publishing connection. VerifyRetained looks again until the
// endpoint's read-back wait has passed (upload.Client does), as a
// bridge or cluster passes a message on late.
type EndpointReader interface {
	RetainedReader
	VerifyRetained(ctx context.Context, topic string, size int, sum [32]byte) error
}

// Endpoint is a broker endpoint devices use other than the publishing
// connection: a cluster node or a bridged broker (docs/publishing.md,
// "Several endpoints").
type Endpoint struct {
	URL    string
	Reader EndpointReader
	// Wait is how long a check that nothing is retained looks again
	// (Unpublish with Clear); the other read-backs wait in Reader.
	Wait time.Duration
}

// EndpointResult says whether a step was confirmed on one endpoint.
type EndpointResult struct {
	URL       string `json:"url"`
	Confirmed bool   `json:"confirmed"`
	Error     string `json:"error,omitempty"`
}

// EndpointDone: Step (artifacts, desired or unpublish) is confirmed on
// the endpoint URL.
type EndpointDone struct {
	Step string
	URL  string
}

func (EndpointDone) event() {}

// Endpoints are open connections to the other endpoints.
type Endpoints struct {
	List    []Endpoint
	clients []*upload.Client
}

// Close closes every connection.
func (e *Endpoints) Close() {
	for _, c := range e.clients {
		c.Close()
	}
}

// ConnectEndpoints connects to each of opts (profile.Connection.Endpoints
// without the first, the publishing connection). The first that cannot
// be reached fails it, named; nothing stays open then.
func ConnectEndpoints(ctx context.Context, opts []upload.Options) (*Endpoints, error) {
	eps := &Endpoints{}
	for _, o := range opts {
		c, err := upload.Connect(ctx, o)
		if err != nil {
			eps.Close()
			return nil, hint.Wrap(fmt.Errorf("endpoint %s: %w (nothing was published)", o.Broker, err),
				"every --verify-broker (or verify-brokers) endpoint must be reachable with the connection's settings; check it with 'otactl doctor'")
		}
		eps.clients = append(eps.clients, c)
		wait := o.ReadBackWait
		if wait == 0 {
			wait = upload.DefaultReadBackWait
		}
		eps.List = append(eps.List, Endpoint{URL: c.Broker(), Reader: c, Wait: max(wait, 0)})
	}
	return eps, nil
}

// endpointError is a step not confirmed on an endpoint, before any
// desired manifest was published.
func endpointError(url, what string, err error) error {
	return endpointErrorAfter(url, what, err, "nothing was published")
}

// endpointErrorAfter is endpointError with what the run had published
// (on the publishing broker) said in place of "nothing was published".
func endpointErrorAfter(url, what string, err error, done string) error {
	return hint.Wrap(fmt.Errorf("endpoint %s: %s: %w (%s)", url, what, err, done),
		"the endpoint did not serve it within the read-back wait (--read-back-wait): check that the bridge or cluster carries "+
			"every otactl topic (.u/#, cohorts/+/.u/desired, devices/+/.u/desired) and that each hop's size limit fits the largest artifact; or wait longer")
}

// ConfirmArtifacts is the artifact step on every endpoint of eps: each
// artifact of arts retained there, size and SHA-256 read back. Publish
// runs it before any desired manifest is published. obs is told an
// EndpointDone event per endpoint.
func ConfirmArtifacts(ctx context.Context, eps []Endpoint, arts []ArtifactResult, obs Observer) error {
	return confirmArtifacts(ctx, eps, arts, obs, "nothing was published")
}

// ConfirmUpload is ConfirmArtifacts after 'otactl upload', which put the
// artifact on the publishing broker first.
func ConfirmUpload(ctx context.Context, eps []Endpoint, a ArtifactResult, obs Observer) error {
	return confirmArtifacts(ctx, eps, []ArtifactResult{a}, obs, "the artifact is on the publishing broker only; no manifest was published")
}

func confirmArtifacts(ctx context.Context, eps []Endpoint, arts []ArtifactResult, obs Observer, done string) error {
	for _, e := range eps {
		for _, a := range arts {
			sum, err := hex.DecodeString(a.SHA256)
			if err != nil || len(sum) != sha256.Size {
				return fmt.Errorf("%w: component %s@%s: hash is not SHA-256 hex", release.ErrVerification, a.Package, a.Version)
			}
			if err := confirmArtifact(ctx, e, a, [32]byte(sum)); err != nil {
				return endpointErrorAfter(e.URL, "artifact "+a.Package+"@"+a.Version, readBackProblem(err), done)
			}
		}
		obs.emit(EndpointDone{Step: "artifacts", URL: e.URL})
	}
	return nil
}

// confirmArtifact reads one artifact back on an endpoint: whole, or when
// it was published in blocks, its index and every block (devices that
// take blocks read those; the whole topic may be over the endpoint's
// limit), and the whole too when it was published whole as well. The
// index is the last thing published, so the most likely to arrive late:
// its read is tried again until the endpoint's read-back wait has passed
// (the whole and the blocks wait in the reader).
func confirmArtifact(ctx context.Context, e Endpoint, a ArtifactResult, sum [32]byte) error {
	if a.Blocks == 0 || a.Whole {
		if err := e.Reader.VerifyRetained(ctx, a.Topic, int(a.Size), sum); err != nil || a.Blocks == 0 {
			return err
		}
	}
	name := a.Package + "@" + a.Version
	return upload.LookAgain(ctx, e.Wait, func() (bool, error) {
		x, err := verifyRemoteBlocks(ctx, e.Reader, a.Topic, name, release.Component{Size: a.Size, Hash: a.SHA256})
		if err == nil && x == nil {
			err = &upload.VerifyError{Topic: upload.BlockIndexTopic(a.Topic), Missing: true}
		}
		return errors.Is(err, release.ErrVerification), err
	})
}

// antiRollbackElsewhere is the anti-rollback check on every other
// endpoint: a target retaining there a higher sequence, or another
// release of the same sequence, refuses the plan (an
// *AntiRollbackError) unless Force, so the highest sequence anywhere
// wins. Bytes that are not a manifest do not count; an endpoint that
// cannot be read fails the step.
func (p *Publisher) antiRollbackElsewhere(ctx context.Context, plan *Plan, targets []Target) error {
	if plan.Force {
		return nil
	}
	m := plan.Manifest
	var refused []string
	for _, e := range p.Endpoints {
		for _, t := range targets {
			om, _, found, err := ReadManifest(ctx, e.Reader, t.Topic)
			if err != nil && !found {
				return endpointError(e.URL, "anti-rollback: read "+t.Topic, err)
			}
			if om != nil && outranks(om, m) {
				refused = append(refused, fmt.Sprintf("%s retains sequence %d on %s", t, om.SequenceNumber, e.URL))
			}
		}
	}
	if len(refused) > 0 {
		return &AntiRollbackError{Sequence: m.SequenceNumber, Reasons: refused}
	}
	return nil
}

// retainedWant is what a topic must retain on every endpoint: Payload,
// or nothing when Payload is empty.
type retainedWant struct {
	Topic   string
	Payload []byte
}

// confirmRetained confirms on every other endpoint that each topic
// retains what want says, and returns what each endpoint confirmed, the
// publishing connection (url) first, and an error naming every endpoint
// that did not.
func (p *Publisher) confirmRetained(ctx context.Context, step, url string, want []retainedWant) ([]EndpointResult, error) {
	out := []EndpointResult{{URL: url, Confirmed: true}}
	var failed []string
	for _, e := range p.Endpoints {
		r := EndpointResult{URL: e.URL, Confirmed: true}
		for _, w := range want {
			if err := e.confirm(ctx, w.Topic, w.Payload); err != nil {
				r.Confirmed, r.Error = false, readBackProblem(err).Error()
				failed = append(failed, fmt.Sprintf("endpoint %s: %s", e.URL, r.Error))
				break
			}
		}
		if r.Confirmed {
			p.Observe.emit(EndpointDone{Step: step, URL: e.URL})
		}
		out = append(out, r)
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("%s not confirmed on every endpoint: %s", step, strings.Join(failed, "; "))
	}
	return out, nil
}

// confirm reads topic back on e: payload retained, or nothing when
// payload is empty, looked for again until e.Wait has passed.
func (e Endpoint) confirm(ctx context.Context, topic string, payload []byte) error {
	if len(payload) > 0 {
		return e.Reader.VerifyRetained(ctx, topic, len(payload), sha256.Sum256(payload))
	}
	return upload.LookAgain(ctx, e.Wait, func() (bool, error) {
		got, found, err := e.Reader.ReadRetained(ctx, topic)
		switch {
		case err != nil:
			return false, err
		case !found:
			return false, nil
		}
		return true, fmt.Errorf("%s still retains %d bytes", topic, len(got))
	})
}

// readBackProblem says what a read-back on an endpoint found, in terms of
// that endpoint (the bytes were published elsewhere): a *upload.VerifyError
// becomes an error that still wraps release.ErrVerification.
func readBackProblem(err error) error {
	var ve *upload.VerifyError
	switch {
	case !errors.As(err, &ve):
		return err
	case ve.Missing && ve.WantSize == 0:
		return fmt.Errorf("%w: %s: nothing is retained there", release.ErrVerification, ve.Topic)
	case ve.Missing:
		return fmt.Errorf("%w: %s: nothing is retained there (want %d bytes)", release.ErrVerification, ve.Topic, ve.WantSize)
	}
	return fmt.Errorf("%w: %s retains %d bytes (sha256 %.12s), not the %d bytes published (sha256 %.12s)",
		release.ErrVerification, ve.Topic, ve.GotSize, ve.GotHash, ve.WantSize, ve.WantHash)
}

// endpointPartial is a confirmation that failed after the publishing
// connection took the change: the release (or its withdrawal) is live
// there, so it is a *PartialError carrying result for -o json.
func endpointPartial(ctx context.Context, err error, result any) error {
	if ctx.Err() != nil {
		return err
	}
	return &PartialError{Err: err, Result: result,
		Next: "devices on that endpoint may not see it yet: check the bridge or cluster (otactl doctor), then run the same command again to finish it"}
}
