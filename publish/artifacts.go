package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// MaxArtifact is MQTT's own limit on a packet's remaining length, less
// room for the topic and packet id: the largest component a manifest holds.
const MaxArtifact = release.MaxComponentSize

// Artifacts is the artifact step: every component of the plan's manifest
// on the broker, read back. A component with a file is uploaded unless the
// broker already retains the same bytes (different bytes are refused
// unless Force); one without must already be there. Each is an
// ArtifactDone event.
func (p *Publisher) Artifacts(ctx context.Context, plan *Plan) ([]ArtifactResult, error) {
	topics := p.Broker.Topics()
	out := []ArtifactResult{}
	for _, c := range plan.Manifest.Components {
		name := c.Package + "@" + c.Version
		topic, err := topics.Component(c.Package, c.Version)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", name, err)
		}
		if uri := release.ComponentURI(c.Package, c.Version); c.URI != uri {
			return nil, fmt.Errorf("component %s: uri %q is not %q, where otactl publishes it", name, c.URI, uri)
		}
		res := ArtifactResult{Package: c.Package, Version: c.Version, Topic: topic, Size: c.Size, SHA256: c.Hash}
		bs, err := BlockSize(name, c.Size, plan.MaxPayload, plan.BlockSize)
		if err != nil {
			return nil, err
		}
		if bs > 0 {
			res.BlockSize, res.Blocks = bs, upload.BlockCount(c.Size, bs)
			res.Whole = !NeedsBlocks(c.Size, plan.MaxPayload)
		}
		if path, ok := plan.Files[c.Package]; ok {
			err = p.putComponent(ctx, plan, c, &res, path)
		} else {
			var x *upload.BlockIndex
			res.Action = "verified"
			if x, err = verifyRemoteArtifact(ctx, p.Broker, topic, name, c, bs > 0, plan.ArtifactsDir); x != nil {
				// Found in blocks: the endpoints must hold those blocks;
				// the whole topic was not checked here, nor is it there.
				res.BlockSize, res.Blocks, res.Whole = x.BlockSize, x.Count, false
			}
		}
		if err != nil {
			return nil, err
		}
		p.Observe.emit(ArtifactDone{res})
		out = append(out, res)
	}
	return out, nil
}

// putComponent puts component c's file on the broker at res.Topic, in
// blocks of res.BlockSize unless 0 (and whole too with res.Whole), and
// sets the action taken in res, and the blocks the broker retains (those
// already there for the same bytes are kept: PutBlocks).
func (p *Publisher) putComponent(ctx context.Context, plan *Plan, c release.Component, res *ArtifactResult, path string) error {
	name, topic, blockSize := c.Package+"@"+c.Version, res.Topic, res.BlockSize
	limit := plan.MaxPayload
	if blockSize > 0 {
		limit = 0 // BlockSize checked the blocks against it
	}
	f, size, err := OpenArtifact(path, limit)
	if err != nil {
		return err
	}
	defer f.Close()
	if size != c.Size {
		return fmt.Errorf("%w: %s changed since it was checked: it no longer matches component %s (%d bytes, not %d)", release.ErrVerification, path, name, size, c.Size)
	}
	// The bytes are hashed as they are sent, and must hash to the
	// component's hash: a file changed since it was matched is never
	// published.
	a := ArtifactPut{Topic: topic, Name: name, Path: path, File: f, Size: size, Hash: c.Hash, Force: plan.Force, DryRun: plan.DryRun}
	var put upload.PutResult
	if blockSize > 0 {
		var x *upload.BlockIndex
		put, x, err = PutBlocks(ctx, p.Broker, BlockPut{ArtifactPut: a, BlockSize: blockSize, Whole: res.Whole, MaxPayload: plan.MaxPayload}, p.Observe)
		if x != nil {
			res.BlockSize, res.Blocks = x.BlockSize, x.Count
		}
	} else {
		put, err = PutArtifact(ctx, p.Broker, a, p.Observe)
	}
	res.Action = put.Action
	return err
}

// verifyRemoteArtifact checks that the broker retains a component's exact
// bytes when no file was given for it (nor found in dir, when not ""):
// in blocks (the only way when blocked), else whole or, when it is not
// there whole, in blocks.
// The index is returned when it was found in blocks.
func verifyRemoteArtifact(ctx context.Context, store BlockStore, topic, name string, c release.Component, blocked bool, dir string) (*upload.BlockIndex, error) {
	sum, err := hex.DecodeString(c.Hash)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("%w: component %s: hash is not SHA-256 hex", release.ErrVerification, name)
	}
	if !blocked {
		err = store.VerifyRetained(ctx, topic, int(c.Size), [32]byte(sum))
	}
	var ve *upload.VerifyError
	if blocked || errors.As(err, &ve) && ve.Missing {
		x, berr := verifyRemoteBlocks(ctx, store, topic, name, c)
		if x != nil || berr != nil {
			return x, berr
		}
		err = &upload.VerifyError{Topic: topic, Missing: true}
	}
	if errors.As(err, &ve) && ve.Missing && dir != "" {
		return nil, hint.Wrap(fmt.Errorf("component %s is not on the broker (%s), and the artifacts folder %s has no file for it: %s, in it and its subfolders",
			name, topic, dir, release.LookedFor(c)),
			"give the file as an argument (otactl release publish release.json FILE)")
	}
	if errors.As(err, &ve) && ve.Missing {
		return nil, hint.Wrap(fmt.Errorf("component %s is not on the broker (%s) and no file was given for it", name, topic),
			"give the file as an argument (otactl release publish release.json FILE) or --artifacts DIR")
	}
	if errors.As(err, &ve) {
		return nil, fmt.Errorf("component %s: %w", name, err)
	}
	return nil, err
}

// OpenArtifact opens an artifact file and returns its size, after checking
// that it is a regular file that fits one MQTT message and maxPayload
// (0: none). Nothing is read: the upload streams it.
func OpenArtifact(path string, maxPayload int64) (*os.File, int64, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, fmt.Errorf("artifact %s does not exist", path)
		}
		return nil, 0, fmt.Errorf("artifact: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("artifact: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("artifact %s is not a regular file", path)
	}
	if err := CheckPayloadSize(path, st.Size(), maxPayload); err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Size() == 0 {
		f.Close()
		return nil, 0, fmt.Errorf("artifact %s is empty: an empty retained message would delete the topic", path)
	}
	return f, st.Size(), nil
}

// CheckPayloadSize refuses an artifact of size bytes that MQTT cannot
// carry in one message or that is over maxPayload (0: none).
func CheckPayloadSize(name string, size, maxPayload int64) error {
	if size > MaxArtifact {
		return fmt.Errorf("artifact %s is %d bytes: more than MQTT can carry in one message (%d)", name, size, MaxArtifact)
	}
	if maxPayload > 0 && size > maxPayload {
		return hint.Wrap(fmt.Errorf("artifact %s is %s (%d bytes): more than the broker's limit of %d bytes (max-payload)", name, text.Bytes(size), size, maxPayload),
			"raise the broker's limit (mosquitto message_size_limit or max_packet_size, EMQX mqtt.max_packet_size) and then max-payload, or use a broker that takes large messages")
	}
	return nil
}

// ArtifactPut is one artifact file to put on the broker.
type ArtifactPut struct {
	Topic string
	Name  string // PACKAGE@VERSION
	Path  string
	File  *os.File
	Size  int64
	// Hash, when set, is the manifest's hex SHA-256 for the file: bytes
	// read that do not match it are never published.
	Hash   string
	Force  bool
	DryRun bool
}

// PutArtifact makes sure a.Topic retains exactly the file's bytes: it sends
// nothing when the same bytes are already there, refuses different bytes
// unless a.Force, and reads every upload back. With a.DryRun it only says
// what it would do. Just before bytes are sent, obs is told
// ArtifactSending.
func PutArtifact(ctx context.Context, store ArtifactStore, a ArtifactPut, obs Observer) (upload.PutResult, error) {
	req := upload.PutRequest{Topic: a.Topic, File: a.File, Size: a.Size, Force: a.Force, DryRun: a.DryRun,
		Sending: func() { obs.emit(ArtifactSending{Name: a.Name, Size: a.Size, Topic: a.Topic}) }}
	if a.Hash != "" {
		sum, err := hex.DecodeString(a.Hash)
		if err != nil || len(sum) != sha256.Size {
			return upload.PutResult{}, fmt.Errorf("%w: component %s: hash is not SHA-256 hex", release.ErrVerification, a.Name)
		}
		req.SHA256 = (*[32]byte)(sum)
	}
	res, err := store.PutFile(ctx, req)
	if err != nil {
		return res, artifactError(err, a)
	}
	return res, nil
}

// artifactError says what a failed put of a means to the user.
func artifactError(err error, a ArtifactPut) error {
	var conflict *upload.ConflictError
	switch {
	case errors.As(err, &conflict):
		return hint.Wrap(fmt.Errorf("%w: %s is already published with different bytes (%d bytes, sha256 %s) at %s",
			release.ErrVerification, a.Name, conflict.Size, hex.EncodeToString(conflict.SHA256[:6]), conflict.Topic),
			"a version's bytes should never change: publish a new version, or replace them with --force")
	case errors.Is(err, upload.ErrArtifactChanged):
		what := "it was checked"
		if a.Hash != "" {
			what = "it was checked: it no longer matches component " + a.Name
		}
		return hint.Wrap(fmt.Errorf("%w: %s changed since %s (nothing was published)", release.ErrVerification, a.Path, what),
			"is something still writing the file? run again once it is complete")
	}
	return fmt.Errorf("upload %s: %w", a.Name, err)
}
