package broker

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// retainedBucket is the bolt bucket of retained messages, keyed by topic.
var retainedBucket = []byte("retained")

// retainStore keeps the broker's retained messages in a bolt database, so
// that releases and reports survive a restart. It stores nothing else:
// sessions, subscriptions and messages in flight are the clients' to
// re-establish, and leaving them out spares a disk sync on every connect,
// subscribe and disconnect (mochi's own bolt hook syncs each of them on its
// own, which made a fleet of a thousand devices take minutes to shut down).
//
// Each write is a bolt Batch, so that concurrent retained publishes share
// one sync; it completes before the broker acknowledges the publish. The
// value written is read from the broker's retained index when the batch
// runs, not taken from the publish, so two publishes to one topic can never
// leave the older one on disk.
type retainStore struct {
	mqtt.HookBase
	path   string
	db     *bbolt.DB
	server *mqtt.Server
}

func (s *retainStore) ID() string { return "otactl-retained-store" }

func (s *retainStore) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnRetainMessage, mqtt.OnRetainedExpired, mqtt.StoredRetainedMessages}, []byte{b})
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
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(retainedBucket)
		return err
	}); err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

func (s *retainStore) Stop() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

func (s *retainStore) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	s.sync(pk.TopicName)
}

func (s *retainStore) OnRetainedExpired(topic string) {
	s.sync(topic)
}

// sync makes the database hold what the broker retains on topic now.
func (s *retainStore) sync(topic string) {
	if s.db == nil {
		return
	}
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket(retainedBucket)
		pk, ok := s.server.Topics.Retained.Get(topic)
		if !ok || len(pk.Payload) == 0 {
			return b.Delete([]byte(topic))
		}
		msg := storage.Message{
			T:           storage.RetainedKey,
			ID:          topic,
			FixedHeader: pk.FixedHeader,
			TopicName:   pk.TopicName,
			Payload:     pk.Payload,
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
		data, err := msg.MarshalBinary()
		if err != nil {
			return err
		}
		return b.Put([]byte(topic), data)
	})
	if err != nil {
		s.Log.Error("could not store a retained message", "topic", topic, "error", err)
	}
}

func (s *retainStore) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(retainedBucket).ForEach(func(k, v []byte) error {
			var m storage.Message
			if err := m.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("retained message on %q: %w", k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}
