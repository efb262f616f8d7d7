package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/otactl/otactl/internal/text"
)

// PutRequest is an artifact to make retained on a topic.
type PutRequest struct {
	Topic string
	// File holds the bytes: Size of them from offset 0. It is read once,
	// while the bytes are sent; a second time before that only when the
	// broker already retains a message of the same size and SHA256 is not
	// set.
	File io.ReaderAt
	Size int64
	// SHA256, when set, is what the bytes must hash to (a manifest's
	// component hash). Bytes read that do not are never published: the
	// error wraps ErrArtifactChanged.
	SHA256 *[32]byte
	// Force replaces different bytes already retained on Topic.
	Force bool
	// DryRun reads what is retained and says what would be done.
	DryRun bool
	// Sending, when set, is called once just before the bytes are sent.
	Sending func()
}

// The actions PutFile reports.
const (
	ActionUploaded     = "uploaded"
	ActionReplaced     = "replaced"
	ActionPresent      = "present" // the same bytes were already retained: nothing sent
	ActionWouldUpload  = "would upload"
	ActionWouldReplace = "would replace"
)

// PutResult is what PutFile did.
type PutResult struct {
	Action string
	SHA256 [32]byte // of the bytes retained now (or that would be)
}

// PutFile makes req.Topic retain exactly req.Size bytes of req.File,
// retained at QoS 1, and proves it by reading the retained message back
// (size and SHA-256). When the same bytes are already retained nothing is
// sent (ActionPresent); different bytes are a *ConflictError unless
// req.Force.
//
// Artifacts of 1 MiB or more on mqtt:// and mqtts:// brokers go through a
// streaming connection of their own: the file is sent from disk as it is
// hashed, and what is retained is hashed as it arrives, so neither is ever
// held in memory. Should the broker refuse that second connection, and for
// smaller artifacts and websocket brokers, the bytes are read into memory
// (once) and go through the client's connection.
//
// A publish cut short (the connection drops, the context ends, the file
// turns out shorter or, with req.SHA256, different) leaves nothing
// retained: the message is never completed.
func (c *Client) PutFile(ctx context.Context, req PutRequest) (PutResult, error) {
	if err := CheckTopic(req.Topic); err != nil {
		return PutResult{}, err
	}
	if req.Size <= 0 {
		return PutResult{}, fmt.Errorf("publish to %s: empty payload (an empty retained message deletes; use Clear)", req.Topic)
	}
	if req.Size >= streamThreshold && c.streamable() {
		s, err := c.streams.dial(ctx, req.Size)
		if err == nil {
			defer s.close()
			return s.put(req)
		}
		if !c.refused(err, req.Topic) {
			return PutResult{}, err
		}
	}
	return c.putInMemory(ctx, req)
}

// refused reports whether err is the broker refusing a streaming
// connection, which the caller works around, and warns when it is.
func (c *Client) refused(err error, topic string) bool {
	var re *refusedError
	if !errors.As(err, &re) {
		return false
	}
	if c.streams.warn != nil {
		c.streams.warn(fmt.Sprintf("the broker refused a second connection (client id %s: %s): %s goes through the main connection, held in memory",
			c.streams.clientID, text.FirstLine(re.Error()), topic))
	}
	return true
}

// put is PutFile over a streaming connection: read what is retained,
// publish, read back, all on s.
func (s *stream) put(req PutRequest) (PutResult, error) {
	h := sha256.New()
	found, size, err := s.readRetained(req.Topic, h)
	if err != nil {
		return PutResult{}, err
	}
	res := PutResult{Action: ActionUploaded}
	if found {
		var there [32]byte
		h.Sum(there[:0])
		same := false
		if size == req.Size {
			want := req.SHA256
			if want == nil {
				sum, err := hashFile(s.ctx, req.File, req.Size)
				if err != nil {
					return res, err
				}
				want = &sum
			}
			same = there == *want
		}
		if same {
			s.disconnect()
			return PutResult{Action: ActionPresent, SHA256: there}, nil
		}
		if !req.Force {
			s.disconnect()
			return res, &ConflictError{Topic: req.Topic, Size: size, SHA256: there}
		}
		res.Action = ActionReplaced
	}
	if req.DryRun {
		s.disconnect()
		return dryRun(s.ctx, req, res.Action)
	}
	if req.Sending != nil {
		req.Sending()
	}
	res.SHA256, err = s.publishFile(req.Topic, io.NewSectionReader(req.File, 0, req.Size), req.Size, req.SHA256)
	if err != nil {
		return res, err
	}
	if err := s.verify(req.Topic, req.Size, res.SHA256); err != nil {
		return res, err
	}
	s.disconnect()
	return res, nil
}

// dryRun is the result of a dry run that would upload (action uploaded)
// or replace.
func dryRun(ctx context.Context, req PutRequest, action string) (PutResult, error) {
	res := PutResult{Action: ActionWouldUpload}
	if action == ActionReplaced {
		res.Action = ActionWouldReplace
	}
	if req.SHA256 != nil {
		res.SHA256 = *req.SHA256
		return res, nil
	}
	var err error
	res.SHA256, err = hashFile(ctx, req.File, req.Size)
	return res, err
}

// putInMemory is PutFile through the paho connection.
func (c *Client) putInMemory(ctx context.Context, req PutRequest) (PutResult, error) {
	data := make([]byte, req.Size)
	if _, err := io.ReadFull(io.NewSectionReader(req.File, 0, req.Size), data); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return PutResult{}, fmt.Errorf("%w: %d bytes were expected, the file ended sooner: nothing was published", ErrArtifactChanged, req.Size)
		}
		return PutResult{}, fmt.Errorf("read the artifact: %w", err)
	}
	sum := sha256.Sum256(data)
	if req.SHA256 != nil && sum != *req.SHA256 {
		return PutResult{}, fmt.Errorf("%w: the bytes read do not have the SHA-256 expected: nothing was published", ErrArtifactChanged)
	}
	res := PutResult{Action: ActionUploaded, SHA256: sum}
	there, found, err := c.ReadRetained(ctx, req.Topic)
	if err != nil {
		return PutResult{}, err
	}
	if found {
		if bytes.Equal(there, data) {
			return PutResult{Action: ActionPresent, SHA256: sum}, nil
		}
		if !req.Force {
			return PutResult{}, &ConflictError{Topic: req.Topic, Size: int64(len(there)), SHA256: sha256.Sum256(there)}
		}
		res.Action = ActionReplaced
	}
	if req.DryRun {
		return dryRun(ctx, req, res.Action)
	}
	if req.Sending != nil {
		req.Sending()
	}
	since := c.readState()
	if err := c.PublishRetained(ctx, req.Topic, data); err != nil {
		return PutResult{}, err
	}
	return res, c.verifyRetained(ctx, req.Topic, len(data), sum, false, since)
}

// verify reads the message retained on topic back and checks its size and
// SHA-256.
func (s *stream) verify(topic string, size int64, sum [32]byte) error {
	h := sha256.New()
	found, got, err := s.readRetained(topic, h)
	if err != nil {
		return err
	}
	want := content{size, sum}
	if !found {
		if s.lostProbe {
			return &UnconfirmedError{Topic: topic, Why: "the broker stopped answering during the read-back"}
		}
		return verifyContent(topic, want, nil)
	}
	read := content{size: got}
	h.Sum(read.sum[:0])
	return verifyContent(topic, want, &read)
}

// verifyStreamed is VerifyRetained over a streaming connection; a
// *refusedError when the broker would not take one.
func (c *Client) verifyStreamed(ctx context.Context, topic string, size int, sum [32]byte) error {
	s, err := c.streams.dial(ctx, int64(size))
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.verify(topic, int64(size), sum); err != nil {
		return err
	}
	s.disconnect()
	return nil
}

// CopyRetained writes the message retained on topic to w and returns its
// size and SHA-256, and false when nothing is retained there. On mqtt://
// and mqtts:// brokers the message streams from the broker to w through a
// connection of its own, never held whole in memory; should w or the
// connection fail half way, w has received part of it.
func (c *Client) CopyRetained(ctx context.Context, topic string, w io.Writer) (int64, [32]byte, bool, error) {
	var sum [32]byte
	if err := CheckTopic(topic); err != nil {
		return 0, sum, false, err
	}
	if c.streamable() {
		s, err := c.streams.dial(ctx, 0)
		if err == nil {
			defer s.close()
			h := sha256.New()
			out := &errWriter{w: w}
			found, n, err := s.readRetained(topic, io.MultiWriter(h, out))
			if out.err != nil {
				return n, sum, false, out.err // the writer's failure, not the connection's
			}
			if err != nil || !found {
				return n, sum, false, err
			}
			h.Sum(sum[:0])
			s.disconnect()
			return n, sum, true, nil
		}
		if !c.refused(err, topic) {
			return 0, sum, false, err
		}
	}
	data, found, err := c.ReadRetained(ctx, topic)
	if err != nil || !found {
		return 0, sum, false, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, sum, false, err
	}
	return int64(len(data)), sha256.Sum256(data), true, nil
}

// hashFile is the SHA-256 of size bytes of f from offset 0.
func hashFile(ctx context.Context, f io.ReaderAt, size int64) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	buf := make([]byte, streamChunk)
	r := io.NewSectionReader(f, 0, size)
	var n int64
	for n < size {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		k, err := r.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF && n < size {
			return sum, fmt.Errorf("%w: %d bytes were expected, the file ended sooner", ErrArtifactChanged, size)
		}
		if err != nil && err != io.EOF {
			return sum, fmt.Errorf("read the artifact: %w", err)
		}
	}
	h.Sum(sum[:0])
	return sum, nil
}

// errWriter remembers the error its writer returned.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
