package crdt

import "encoding/binary"

// entryHash is a stable 64-bit hash of one live entry: FNV-1a over its fields,
// length-prefixed so that no two different entries share a byte stream, followed
// by a finalizer that spreads the bits (the state hash is a sum of these, so
// every bit of each term should matter).
func entryHash(origin string, epoch uint64, key string, r record) uint64 {
	h := uint64(fnvOffset)
	h = fnvString(h, origin)
	h = fnvUint(h, epoch)
	h = fnvString(h, key)
	h = fnvUint(h, r.seq)
	h = fnvUint(h, uint64(len(r.value)))
	for _, b := range r.value {
		h = (h ^ uint64(b)) * fnvPrime
	}
	return mix64(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	h = fnvUint(h, uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func fnvUint(h, v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
