package broker

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// The bolt database holds, in topicsBucket, one bucket per topic with a
// retained message, holding the message without its payload (metaKey,
// mochi's storage.Message as JSON) and the payload as it is (payloadKey).
// A bucket per topic keeps a large payload on pages of its own: bolt
// rewrites a whole leaf when one of its keys changes, and with every topic
// in one bucket a small manifest's update rewrote the artifacts beside it.
// Databases of earlier versions kept each message whole under its topic in
// oldRetainedBucket; they are converted when opened.
var (
	topicsBucket      = []byte("topics")
	metaKey           = []byte("meta")
	payloadKey        = []byte("payload")
	oldRetainedBucket = []byte("retained")
)

// retainStore keeps the broker's retained messages in a bolt database, so
// that releases and reports survive a restart. It stores nothing else:
// sessions, subscriptions and messages in flight are the clients' to
// re-establish, and leaving them out spares a disk sync on every connect,
// subscribe and disconnect (mochi's own bolt hook syncs each of them on its
// own, which made a fleet of a thousand devices take minutes to shut down).
//
// A retained publish is written and synced to disk first, in OnPublish,
// before mochi retains it in memory, delivers it or acknowledges it (mochi
// sends the PUBACK after its OnPublish and OnRetainMessage hooks). So an
// acknowledged retained message is on disk, and what the broker serves
// from memory is never something a restart would lose. When the write
// fails (a full disk, an I/O error), the message is dropped, not retained,
// not delivered, and the publisher's connection is closed without a
// PUBACK. Concurrent publishes share one commit (group commit); publishes
// to one topic take turns from the disk write to the memory update, so
// disk and memory agree on which of them came last.
type retainStore struct {
	mqtt.HookBase
	path   string
	server *mqtt.Server
	// fault, in tests, fails a commit of the given topics when it returns
	// an error.
	fault func(topics []string) error
	// stopFault, in tests, fails Stop when it returns an error.
	stopFault func() error

	dbMu    sync.RWMutex // guards db and stopErr: writers share it, Stop takes it whole
	db      *bbolt.DB
	stopErr error // what Stop returned

	commits *groupCommit
	topics  topicLocks

	heldMu sync.Mutex
	held   map[heldTopic]func() // turns held from the disk write to OnRetainMessage
}

type heldTopic struct {
	cl    *mqtt.Client
	topic string
}

func (s *retainStore) ID() string { return "otactl-retained-store" }

func (s *retainStore) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnPublish, mqtt.OnWill, mqtt.OnRetainMessage, mqtt.OnPacketProcessed,
		mqtt.OnRetainedExpired, mqtt.StoredRetainedMessages,
	}, []byte{b})
}

// ErrDataInUse is wrapped when another broker holds the data folder.
var ErrDataInUse = errors.New("in use by another broker")

func (s *retainStore) Init(any) error {
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, bbolt.ErrTimeout) {
		return ErrDataInUse
	}
	if err != nil {
		return err
	}
	if err := db.Update(convertOldStore); err != nil {
		db.Close()
		return err
	}
	s.db = db
	s.commits = &groupCommit{commit: s.commit}
	s.held = map[heldTopic]func(){}
	return nil
}

func (s *retainStore) Stop() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return s.stopErr
	}
	err := s.db.Close()
	if s.stopFault != nil {
		err = errors.Join(s.stopFault(), err)
	}
	s.db, s.stopErr = nil, err
	return err
}

// stopped is what Stop returned: nil before it ran.
func (s *retainStore) stopped() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.stopErr
}

// OnPublish stores a retained publish before mochi retains, delivers or
// acknowledges it; when it cannot be stored, it closes the publisher's
// connection and rejects the packet.
func (s *retainStore) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	unlock := s.topics.lock(pk.TopicName)
	if err := s.store(pk); err != nil {
		unlock()
		s.Log.Error(fmt.Sprintf("could not store retained message on %s: %s; closing the publisher's connection", pk.TopicName, describeStoreError(err)),
			"client", cl.ID, "remote", cl.Net.Remote)
		code := packets.ErrImplementationSpecificError
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			code = packets.ErrQuotaExceeded
		}
		if cl.Properties.ProtocolVersion == 5 {
			_ = s.server.DisconnectClient(cl, code)
		} else {
			// MQTT 3 has no DISCONNECT from the broker: just close.
			cl.Stop(code)
		}
		return pk, packets.ErrRejectPacket
	}
	s.hold(cl, pk.TopicName, unlock)
	return pk, nil
}

// OnWill stores a retained will sent now (not delayed) before mochi
// retains it; one that cannot be stored is still delivered, but not
// retained.
func (s *retainStore) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if !will.Retain || will.WillDelayInterval != 0 {
		return will, nil
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true, Qos: will.Qos},
		TopicName:   will.TopicName,
		Payload:     will.Payload,
		Properties:  packets.Properties{User: will.User},
		Origin:      cl.ID,
		Created:     time.Now().Unix(),
	}
	unlock := s.topics.lock(will.TopicName)
	if err := s.store(pk); err != nil {
		unlock()
		s.Log.Error(fmt.Sprintf("could not store retained will on %s: %s; delivering it without retaining it", will.TopicName, describeStoreError(err)),
			"client", cl.ID)
		will.Retain = false
		return will, nil
	}
	s.hold(cl, will.TopicName, unlock)
	return will, nil
}

// OnRetainMessage follows mochi's update of its retained index: it ends
// the topic's turn taken in OnPublish or OnWill. A retained message that
// came another way (a delayed will) is stored now; if that fails, the
// index is put back to what the disk holds.
func (s *retainStore) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if s.release(cl, pk.TopicName) {
		return
	}
	unlock := s.topics.lock(pk.TopicName)
	defer unlock()
	now, ok := s.server.Topics.Retained.Get(pk.TopicName)
	if !ok {
		now = packets.Packet{TopicName: pk.TopicName, FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}}
	}
	if err := s.store(now); err != nil {
		s.Log.Error(fmt.Sprintf("could not store retained message on %s: %s; not retaining it", pk.TopicName, describeStoreError(err)), "client", cl.ID)
		s.restore(pk.TopicName)
	}
}

// OnPacketProcessed ends any turn a publish still holds, should mochi have
// dropped the publish between OnPublish and retaining it.
func (s *retainStore) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, err error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Retain {
		s.release(cl, pk.TopicName)
	}
}

// OnRetainedExpired deletes an expired retained message from the disk.
func (s *retainStore) OnRetainedExpired(topic string) {
	unlock := s.topics.lock(topic)
	defer unlock()
	if _, ok := s.server.Topics.Retained.Get(topic); ok {
		return // retained again since
	}
	if err := s.store(packets.Packet{TopicName: topic}); err != nil {
		s.Log.Error(fmt.Sprintf("could not delete expired retained message on %s: %s", topic, describeStoreError(err)))
	}
}

func (s *retainStore) hold(cl *mqtt.Client, topic string, unlock func()) {
	s.heldMu.Lock()
	s.held[heldTopic{cl, topic}] = unlock
	s.heldMu.Unlock()
}

// release ends the turn cl holds on topic and reports whether it held one.
func (s *retainStore) release(cl *mqtt.Client, topic string) bool {
	s.heldMu.Lock()
	unlock, ok := s.held[heldTopic{cl, topic}]
	delete(s.held, heldTopic{cl, topic})
	s.heldMu.Unlock()
	if ok {
		unlock()
	}
	return ok
}

// restore puts mochi's retained index for topic back to what the disk
// holds.
func (s *retainStore) restore(topic string) {
	pk := packets.Packet{TopicName: topic, FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}}
	s.dbMu.RLock()
	if s.db != nil {
		_ = s.db.View(func(tx *bbolt.Tx) error {
			if b := tx.Bucket(topicsBucket).Bucket([]byte(topic)); b != nil {
				if m, err := storedMessage(topic, b); err == nil {
					pk = retainedPacket(m)
				}
			}
			return nil
		})
	}
	s.dbMu.RUnlock()
	s.server.Topics.RetainMessage(pk)
}

// retainedPacket is the packet mochi makes of a stored retained message
// when it loads them.
func retainedPacket(m storage.Message) packets.Packet {
	return packets.Packet{
		FixedHeader: m.FixedHeader,
		TopicName:   m.TopicName,
		Payload:     m.Payload,
		Created:     m.Created,
		Origin:      m.Origin,
		Properties: packets.Properties{
			PayloadFormat:         m.Properties.PayloadFormat,
			PayloadFormatFlag:     m.Properties.PayloadFormatFlag,
			MessageExpiryInterval: m.Properties.MessageExpiryInterval,
			ContentType:           m.Properties.ContentType,
			ResponseTopic:         m.Properties.ResponseTopic,
			CorrelationData:       m.Properties.CorrelationData,
			User:                  m.Properties.User,
		},
	}
}

// store makes the disk hold pk as the retained message of its topic (an
// empty payload deletes it) and returns once that is synced.
func (s *retainStore) store(pk packets.Packet) error {
	w := &storeWrite{topic: pk.TopicName}
	if len(pk.Payload) > 0 {
		meta, err := messageMeta(pk)
		if err != nil {
			return err
		}
		w.meta, w.payload = meta, pk.Payload
	}
	return s.commits.do(w)
}

// messageMeta is pk, without its payload, in mochi's storage format.
func messageMeta(pk packets.Packet) ([]byte, error) {
	msg := storage.Message{
		T:           storage.RetainedKey,
		ID:          pk.TopicName,
		FixedHeader: pk.FixedHeader,
		TopicName:   pk.TopicName,
		Created:     pk.Created,
		Origin:      pk.Origin,
		Properties: storage.MessageProperties{
			PayloadFormat:         pk.Properties.PayloadFormat,
			PayloadFormatFlag:     pk.Properties.PayloadFormatFlag,
			MessageExpiryInterval: pk.Properties.MessageExpiryInterval,
			ContentType:           pk.Properties.ContentType,
			ResponseTopic:         pk.Properties.ResponseTopic,
			CorrelationData:       pk.Properties.CorrelationData,
			User:                  pk.Properties.User,
		},
	}
	return msg.MarshalBinary()
}

// storedMessage reads topic's message from its bucket b.
func storedMessage(topic string, b *bbolt.Bucket) (storage.Message, error) {
	var m storage.Message
	meta, payload := b.Get(metaKey), b.Get(payloadKey)
	if meta == nil || payload == nil {
		return m, fmt.Errorf("retained message on %q: incomplete", topic)
	}
	if err := m.UnmarshalBinary(meta); err != nil {
		return m, fmt.Errorf("retained message on %q: %w", topic, err)
	}
	m.Payload = bytes.Clone(payload)
	return m, nil
}

// commit writes ws in one bolt transaction, which syncs the file when it
// commits.
func (s *retainStore) commit(ws []*storeWrite) error {
	if s.fault != nil {
		topics := make([]string, len(ws))
		for i, w := range ws {
			topics[i] = w.topic
		}
		if err := s.fault(topics); err != nil {
			return err
		}
	}
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return errors.New("the database is closed")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		top := tx.Bucket(topicsBucket)
		for _, w := range ws {
			if w.payload == nil {
				if err := top.DeleteBucket([]byte(w.topic)); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
					return err
				}
				continue
			}
			b, err := top.CreateBucketIfNotExists([]byte(w.topic))
			if err != nil {
				return err
			}
			if err := b.Put(metaKey, w.meta); err != nil {
				return err
			}
			if err := b.Put(payloadKey, w.payload); err != nil {
				return err
			}
		}
		return nil
	})
}

// convertOldStore makes the buckets of a new database, and converts one
// of an earlier version, which kept each message whole under its topic.
func convertOldStore(tx *bbolt.Tx) error {
	top, err := tx.CreateBucketIfNotExists(topicsBucket)
	if err != nil {
		return err
	}
	old := tx.Bucket(oldRetainedBucket)
	if old == nil {
		return nil
	}
	err = old.ForEach(func(k, v []byte) error {
		var m storage.Message
		if err := m.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("retained message on %q: %w", k, err)
		}
		if len(m.Payload) == 0 {
			return nil
		}
		meta, err := messageMeta(retainedPacket(m))
		if err != nil {
			return err
		}
		b, err := top.CreateBucketIfNotExists(k)
		if err != nil {
			return err
		}
		if err := b.Put(metaKey, meta); err != nil {
			return err
		}
		return b.Put(payloadKey, m.Payload)
	})
	if err != nil {
		return fmt.Errorf("convert the retained messages of an earlier version: %w", err)
	}
	return tx.DeleteBucket(oldRetainedBucket)
}

// describeStoreError is the reason a write failed, without the database's
// path when it is a system error such as "no space left on device".
func describeStoreError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func (s *retainStore) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := s.db.View(func(tx *bbolt.Tx) error {
		top := tx.Bucket(topicsBucket)
		return top.ForEach(func(k, _ []byte) error {
			b := top.Bucket(k)
			if b == nil {
				return nil
			}
			m, err := storedMessage(string(k), b)
			if err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// storeWrite is one topic's new message (payload nil: delete) waiting for
// a commit.
type storeWrite struct {
	topic   string
	meta    []byte
	payload []byte
	done    chan error
}

// groupCommit runs writes in shared commits: while one commit runs, the
// writes that arrive wait and then go together in the next, so a burst
// of publishes costs a few disk syncs, not one each, and a lone write
// waits for no timer. When a shared commit fails, each of its writes is
// tried on its own, so that one write too big for the disk fails alone.
type groupCommit struct {
	commit func([]*storeWrite) error

	mu      sync.Mutex
	queue   []*storeWrite
	running bool
}

// do returns once w is committed, or with the reason it could not be.
func (g *groupCommit) do(w *storeWrite) error {
	w.done = make(chan error, 1)
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	return <-w.done
}

func (g *groupCommit) run() {
	for {
		g.mu.Lock()
		ws := g.queue
		g.queue = nil
		if len(ws) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		err := g.commit(ws)
		if err != nil && len(ws) > 1 {
			for _, w := range ws {
				w.done <- g.commit([]*storeWrite{w})
			}
			continue
		}
		for _, w := range ws {
			w.done <- err
		}
	}
}

// topicLocks gives each topic a lock of its own, held while a retained
// message for it goes to disk and into mochi's index.
type topicLocks struct {
	mu    sync.Mutex
	locks map[string]*topicLock
}

type topicLock struct {
	sync.Mutex
	users int
}

// lock takes topic's lock and returns its unlock.
func (t *topicLocks) lock(topic string) func() {
	t.mu.Lock()
	if t.locks == nil {
		t.locks = map[string]*topicLock{}
	}
	l, ok := t.locks[topic]
	if !ok {
		l = &topicLock{}
		t.locks[topic] = l
	}
	l.users++
	t.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		t.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(t.locks, topic)
		}
		t.mu.Unlock()
	}
}
