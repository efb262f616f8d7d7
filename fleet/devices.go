package fleet

// deviceList holds a fleet's device records in blocks, in the order the
// devices first reported: one allocation for many records, which the
// garbage collector marks as one object where a million records of their
// own would be a million (a second or more of CPU per collection over a
// million devices: BENCHMARKS.md, status-1m), and which a view walks
// through memory in order. A forgotten device stays in its block, marked
// gone, until the gone are half of the list (see forget).
type deviceList struct {
	blocks [][]fleetDevice
	n      int // records, gone or not
	gone   int
}

// maxDeviceBlock is the most records a block holds; the first blocks
// hold fewer, so that a small fleet takes little memory.
const maxDeviceBlock = 1024

// add makes a record for device id at the end of the list.
func (l *deviceList) add(id string) *fleetDevice {
	last := len(l.blocks) - 1
	if last < 0 || len(l.blocks[last]) == cap(l.blocks[last]) {
		l.blocks = append(l.blocks, make([]fleetDevice, 0, min(maxDeviceBlock, max(16, l.n))))
		last++
	}
	b := l.blocks[last]
	l.blocks[last] = append(b, fleetDevice{id: id})
	d := &l.blocks[last][len(b)]
	d.pkgs = d.one[:0]
	l.n++
	return d
}

// all yields every record not gone, in the list's order.
func (l *deviceList) all(yield func(*fleetDevice) bool) {
	for _, b := range l.blocks {
		for i := range b {
			if d := &b[i]; !d.gone && !yield(d) {
				return
			}
		}
	}
}

// forget marks d gone, and compacts the list once the gone records are
// half of it: moved tells where each record that is kept went.
func (l *deviceList) forget(d *fleetDevice, moved func(*fleetDevice)) {
	d.gone = true
	d.pkgs = nil
	l.gone++
	if l.gone <= l.n/2 {
		return
	}
	var kept deviceList
	for d := range l.all {
		nd := kept.add(d.id)
		*nd = *d
		if len(d.pkgs) > 0 && &d.pkgs[0] == &d.one[0] {
			nd.pkgs = nd.one[:len(d.pkgs)]
		}
		moved(nd)
	}
	*l = kept
}
