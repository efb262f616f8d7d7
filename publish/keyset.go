package publish

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/release"
)

// ReadKeySet reads the key set retained on topic: nil when there is none
// (nothing retained, or an empty payload). A key set that does not parse
// is an error wrapping release.ErrVerification: devices ignore it.
func ReadKeySet(ctx context.Context, r RetainedReader, topic string) (*keyset.KeySet, error) {
	b, found, err := r.ReadRetained(ctx, topic)
	if err != nil || !found || len(b) == 0 {
		return nil, err
	}
	ks, err := keyset.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", release.ErrVerification, topic, err)
	}
	return ks, nil
}

// KeySet is the key set step, run before anything is sent: it reads the
// key set the fleet follows and holds the plan's manifest to it
// (TrustPolicy.CheckKeySet).
func (p *Publisher) KeySet(ctx context.Context, plan *Plan) error {
	topic := p.Broker.Topics().KeySet()
	ks, err := ReadKeySet(ctx, p.Broker, topic)
	if errors.Is(err, release.ErrVerification) {
		return hint.Wrap(err, "devices ignore it and follow the key set before it, which the broker no longer shows: publish a valid one with 'otactl key rotate --force --version N'")
	}
	if err != nil {
		return err
	}
	return plan.Trust.CheckKeySet(ctx, plan.Manifest, ks, topic, p.Now(), p.Observe)
}

// RotateRequest is a new key set to publish (otactl key rotate).
type RotateRequest struct {
	ReleaseKeys []crypto.PublicKey
	Threshold   int // release signatures a manifest needs; 0: 1
	// Roots are the new key set's root keys; none: the signers' keys.
	Roots         []crypto.PublicKey
	RootThreshold int // 0: 1
	// Signers are the root keys that sign it.
	Signers []crypto.Signer
	// Version is the new key set's; 0: one above the retained one's, or 1.
	Version int64
	// Bootstrap publishes the first key set: there must be none yet.
	Bootstrap bool
	// Force publishes even when the retained key set would not accept the
	// new one (a key set devices refused, such as a forged one): the new
	// one is then held to its own root keys only.
	Force  bool
	DryRun bool
}

// Key set actions.
const (
	KeySetPublished    = "published"
	KeySetWouldPublish = "would publish"
)

// RotateReport is what Rotate did (or would do).
type RotateReport struct {
	Topic           string       `json:"topic"`
	Action          string       `json:"action"`
	Bootstrap       bool         `json:"bootstrap"`
	Version         int64        `json:"version"`
	PreviousVersion int64        `json:"previousVersion,omitempty"`
	Digest          string       `json:"digest"`
	Threshold       int          `json:"threshold"`
	Keys            []keyset.Key `json:"keys"`
	RootThreshold   int          `json:"rootThreshold"`
	Roots           []keyset.Key `json:"roots"`
	SignedBy        []string     `json:"signedBy"`
	// Endpoints say, with several broker endpoints, on which the key set
	// was confirmed, the publishing connection first.
	Endpoints []EndpointResult `json:"endpoints,omitempty"`
}

// Rotate builds the key set req describes, signs it with every signer,
// checks that devices following the retained key set would accept it
// (keyset.Accept; with Bootstrap, that it is signed by its own roots) and
// that no other endpoint retains the same or a higher version, publishes
// it retained on P.u/keys, read back, and confirms it on every other
// endpoint (a *PartialError when one does not serve it). Anti-rollback and
// signature failures wrap release.ErrVerification.
func (p *Publisher) Rotate(ctx context.Context, req RotateRequest) (*RotateReport, error) {
	topic := p.Broker.Topics().KeySet()
	prev, err := ReadKeySet(ctx, p.Broker, topic)
	switch {
	case err != nil && !errors.Is(err, release.ErrVerification):
		return nil, err // not read: never replace what may be a valid key set
	case err != nil && !(req.Force && req.Version > 0):
		return nil, hint.Wrap(err, "devices ignore it: publish a new key set with --version above the last one they accepted and --force")
	}
	ks, err := p.buildKeySet(req, prev, topic)
	if err != nil {
		return nil, err
	}
	trust := keyset.Root{Keys: ks.Root().Keys, Threshold: ks.RootThreshold}
	if prev != nil && !req.Force {
		trust = prev.Root()
	}
	if err := keyset.Accept(trust, ks); err != nil {
		return nil, hint.Wrap(fmt.Errorf("new key set: %w", err), rotateHint(prev))
	}
	rep := &RotateReport{Topic: topic, Action: KeySetWouldPublish, Bootstrap: req.Bootstrap, Version: ks.Version,
		Digest: fmt.Sprintf("%x", ks.Digest()), Threshold: ks.Threshold, Keys: ks.Keys,
		RootThreshold: ks.RootThreshold, Roots: ks.Roots, SignedBy: []string{}}
	if prev != nil {
		rep.PreviousVersion = prev.Version
	}
	for _, s := range ks.Signatures {
		rep.SignedBy = append(rep.SignedBy, s.KeyID)
	}
	if err := p.keySetElsewhere(ctx, ks, topic, req.Force); err != nil {
		return nil, err
	}
	if req.DryRun {
		return rep, nil
	}
	payload, err := keyset.Encode(ks)
	if err != nil {
		return nil, err
	}
	if err := p.Broker.PublishVerified(ctx, topic, payload); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	rep.Action = KeySetPublished
	if err := p.confirmKeySet(ctx, topic, payload, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// keySetElsewhere is the anti-rollback check of a key set on every other
// endpoint, before anything is sent: one that retains a key set of the
// same or a higher version refuses ks unless force, and one that cannot
// be read fails the step.
func (p *Publisher) keySetElsewhere(ctx context.Context, ks *keyset.KeySet, topic string, force bool) error {
	for _, e := range p.Endpoints {
		other, err := ReadKeySet(ctx, e.Reader, topic)
		switch {
		case err != nil && !errors.Is(err, release.ErrVerification):
			return endpointError(e.URL, "read the key set "+topic, err)
		case force || other == nil || other.Version < ks.Version:
			continue
		}
		return hint.Wrap(fmt.Errorf("%w: %w: version %d, %s retains %d on %s", release.ErrVerification, keyset.ErrOlder, ks.Version, topic, other.Version, e.URL),
			"the endpoints disagree (a bridge or cluster that did not carry a rotation): give --version above every endpoint's, or check them with 'otactl doctor'")
	}
	return nil
}

// confirmKeySet confirms the key set published on every other endpoint
// and records in rep what each confirmed. The publishing connection took
// it, so a failure is a *PartialError (exit 6) carrying rep.
func (p *Publisher) confirmKeySet(ctx context.Context, topic string, payload []byte, rep *RotateReport) error {
	if len(p.Endpoints) == 0 {
		return nil
	}
	var err error
	rep.Endpoints, err = p.confirmRetained(ctx, "key set", p.URL, []retainedWant{{Topic: topic, Payload: payload}})
	if err == nil || ctx.Err() != nil {
		return err
	}
	return &PartialError{Err: err, Result: rep,
		Next: "devices on that endpoint keep following the key set before it: check the bridge or cluster (otactl doctor), then run 'otactl key rotate' again with the same keys, which publishes them as the next version"}
}

// buildKeySet makes and signs the key set of req, the one after prev.
func (p *Publisher) buildKeySet(req RotateRequest, prev *keyset.KeySet, topic string) (*keyset.KeySet, error) {
	switch {
	case prev != nil && req.Bootstrap:
		return nil, hint.Wrap(fmt.Errorf("--bootstrap: a key set is already on %s (version %d)", topic, prev.Version),
			"rotate it: run the same command without --bootstrap, signed by its root keys")
	case prev == nil && !req.Bootstrap && !req.Force:
		return nil, hint.Wrap(fmt.Errorf("no key set on %s to rotate", topic),
			"publish the first one with --bootstrap (devices must be provisioned with its root keys), or check --topic-prefix")
	case len(req.Signers) == 0:
		return nil, errors.New("no root key to sign the key set with")
	}
	version := req.Version
	if version == 0 {
		version = 1
		if prev != nil {
			version = prev.Version + 1
		}
	}
	if prev != nil && version <= prev.Version {
		return nil, hint.Wrap(fmt.Errorf("%w: %w: version %d, %s retains %d", release.ErrVerification, keyset.ErrOlder, version, topic, prev.Version),
			"leave --version out: the next version is one above the retained one")
	}
	roots := req.Roots
	if len(roots) == 0 {
		for _, s := range req.Signers {
			roots = append(roots, s.Public())
		}
	}
	ks, err := keyset.Build(version, req.ReleaseKeys, max(req.Threshold, 1), roots, max(req.RootThreshold, 1))
	if err != nil {
		return nil, err
	}
	if err := ks.Sign(req.Signers...); err != nil {
		return nil, fmt.Errorf("--root-key: %w", err)
	}
	return ks, nil
}

func rotateHint(prev *keyset.KeySet) string {
	if prev == nil {
		return "a first key set is signed by its own root keys: give them with --root-key (and --root-pubkey)"
	}
	ids := make([]string, len(prev.Roots))
	for i, k := range prev.Roots {
		ids[i] = k.KeyID
	}
	return fmt.Sprintf("sign it with --root-key of %d of the root keys devices trust now (%s); a new root must sign it too", prev.RootThreshold, strings.Join(ids, ", "))
}
