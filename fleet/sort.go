package fleet

import "slices"

// keyed is a candidate's place in rows and its sort key: its status in
// the top byte, then the first 7 bytes of its device id after the prefix
// every id shares, zero-padded. Keys in order are candidates in order;
// equal keys are compared in full.
type keyed struct {
	key uint64
	i   int
}

// sortCandidates sorts rows as compareCandidates does (see sortOrder),
// then puts the candidates in place.
func sortCandidates(rows []candidate) {
	keys := sortOrder(rows)
	// Put each candidate where its key went, one cycle of the
	// permutation at a time; a key whose i is -1 is in place.
	for start := range keys {
		if keys[start].i < 0 {
			continue
		}
		held := rows[start]
		at := start
		for {
			from := keys[at].i
			keys[at].i = -1
			if from == start {
				rows[at] = held
				break
			}
			rows[at] = rows[from]
			at = from
		}
	}
}

// sortOrder is rows' places in compareCandidates order, found by sorting
// 16-byte keys that mostly compare as integers rather than the candidates
// (72 bytes, three strings): a radix sort of the keys, then a full
// compare of the candidates whose keys are equal.
func sortOrder(rows []candidate) []keyed {
	if len(rows) == 0 {
		return nil
	}
	skip := len(rows[0].id)
	for i := range rows {
		id := rows[i].id
		if len(id) < skip {
			skip = len(id)
		}
		for id[:skip] != rows[0].id[:skip] {
			skip--
		}
	}
	keys := make([]keyed, len(rows))
	for i := range rows {
		c := &rows[i]
		k := uint64(c.status) << 56
		for j, sh := skip, 48; j < len(c.id) && sh >= 0; j, sh = j+1, sh-8 {
			k |= uint64(c.id[j]) << sh
		}
		keys[i] = keyed{key: k, i: i}
	}
	keys = radixSort(keys, make([]keyed, len(keys)))
	// Equal keys (ids that share their first 7 bytes past the common
	// prefix) are put in order in full.
	for lo := 0; lo < len(keys); {
		hi := lo + 1
		for hi < len(keys) && keys[hi].key == keys[lo].key {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(keys[lo:hi], func(a, b keyed) int { return compareCandidates(&rows[a.i], &rows[b.i]) })
		}
		lo = hi
	}
	return keys
}

// radixSort sorts keys by key, a byte at a time from the lowest, through
// tmp (as long as keys), skipping the bytes every key has alike; it
// returns whichever of the two holds the result. Stable, so keys with
// equal keys keep their order.
func radixSort(keys, tmp []keyed) []keyed {
	if len(keys) == 0 {
		return keys
	}
	and, or := ^uint64(0), uint64(0)
	for _, k := range keys {
		and &= k.key
		or |= k.key
	}
	varies := and ^ or
	var count [256]int
	for shift := uint(0); shift < 64; shift += 8 {
		if (varies>>shift)&0xff == 0 {
			continue
		}
		clear(count[:])
		for _, k := range keys {
			count[(k.key>>shift)&0xff]++
		}
		at := 0
		for b, n := range count {
			count[b] = at
			at += n
		}
		for _, k := range keys {
			b := (k.key >> shift) & 0xff
			tmp[count[b]] = k
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}
