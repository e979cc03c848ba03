package topics

import "sync"

// murmur2 is Kafka's 32-bit murmur2 (org.apache.kafka.common.utils.Utils.murmur2),
// so a keyed record lands on the same partition as a Kafka producer would put it.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	n4 := length / 4
	for i := 0; i < n4; i++ {
		j := i * 4
		k := uint32(data[j]) | uint32(data[j+1])<<8 | uint32(data[j+2])<<16 | uint32(data[j+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n4*4:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition returns the partition of a keyed record among n partitions,
// as Kafka's default partitioner does: toPositive(murmur2(key)) % n.
func KeyPartition(key []byte, n int) int {
	return int(uint32(murmur2(key))&0x7fffffff) % n
}

// Picker chooses partitions for records that name neither a partition nor a
// key. Each request takes the next partition of its topic in turn, so a
// request's unkeyed records go to one partition (one append, one fsync) and
// consecutive requests spread over all partitions, like Kafka's sticky
// partitioner.
type Picker struct {
	mu   sync.Mutex
	next map[string]int // guarded by mu; tenant + "/" + topic -> next partition
}

// NewPicker returns a Picker with every topic starting at partition 0.
func NewPicker() *Picker {
	return &Picker{next: map[string]int{}}
}

// Next returns the partition for the unkeyed records of one request to
// tenant's topic with n partitions.
func (p *Picker) Next(tenant, topic string, n int) int {
	k := tenant + "/" + topic
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.next[k] % n
	p.next[k] = (i + 1) % n
	return i
}

// Choose returns the partition for one record: explicit (>= 0) wins, then the
// key hash, then the request's round-robin partition rr.
func Choose(explicit int, key []byte, n, rr int) int {
	switch {
	case explicit >= 0:
		return explicit
	case len(key) > 0:
		return KeyPartition(key, n)
	default:
		return rr
	}
}
