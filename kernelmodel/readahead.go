package kernelmodel

// Readahead (mm/readahead.c and mm/filemap.c do_sync_mmap_readahead /
// do_async_mmap_readahead, v5.10) for the host files, whose pages are
// "read from disk"; shmem has none. The default read_ahead_kb of 128 is
// ra_pages = 32. Not modelled: readahead for read() (a read reads only
// the pages it copies), try_context_readahead's page-cache history (a
// non-sequential request reads just itself), per-open-file state (it is
// per inode here).
const (
	raPages       = 32  // VM_READAHEAD_PAGES
	mmapLotsAMiss = 100 // MMAP_LOTSAMISS
)

// raState is struct file_ra_state: the current window and the mmap miss
// count.
type raState struct {
	start, size, asyncSize uint64
	mmapMiss               uint64
}

// doPageCacheRA models do_page_cache_ra → page_cache_ra_unbounded: read
// the uncached pages of [index, index+nr) within i_size into the cache,
// marking the one lookahead pages before the end PG_readahead.
func (v *VCPU) doPageCacheRA(s *shmemFile, index, nr, lookahead uint64) {
	if s.size == 0 {
		return
	}
	endIndex := (s.size - 1) >> 12
	if index > endIndex {
		return
	}
	nr = min(nr, endIndex-index+1)
	for i := uint64(0); i < nr; i++ {
		idx := index + i
		if _, ok := s.cache[idx]; ok {
			continue
		}
		if _, err := v.shmemGetPage(s, idx, true); err != nil {
			return // out of memory or a read error: the fault reads its own page
		}
		if lookahead > 0 && i == nr-lookahead {
			if s.raMark == nil {
				s.raMark = map[uint64]bool{}
			}
			s.raMark[idx] = true // SetPageReadahead
		}
	}
}

// syncMmapReadahead models do_sync_mmap_readahead for a fault that missed
// the cache at pgoff: nothing for VM_RAND_READ, sequential readahead for
// VM_SEQ_READ, else read-around of ra_pages centred on the fault unless
// the file's mmap misses exceed MMAP_LOTSAMISS.
func (v *VCPU) syncMmapReadahead(vma *VMA, s *shmemFile, pgoff uint64) {
	if vma.flags&VM_RAND_READ != 0 {
		return
	}
	if vma.flags&VM_SEQ_READ != 0 {
		v.ondemandReadahead(s, pgoff, raPages, false)
		return
	}
	if s.ra.mmapMiss < mmapLotsAMiss*10 {
		s.ra.mmapMiss++
	}
	if s.ra.mmapMiss > mmapLotsAMiss {
		return
	}
	s.ra.start = pgoff - min(pgoff, raPages/2)
	s.ra.size = raPages
	s.ra.asyncSize = raPages / 4
	v.doPageCacheRA(s, s.ra.start, s.ra.size, s.ra.asyncSize)
}

// asyncMmapReadahead models do_async_mmap_readahead for a fault that hit
// the cache: one mmap miss forgiven, and a PG_readahead page starts the
// next window (page_cache_async_readahead clears the mark).
func (v *VCPU) asyncMmapReadahead(vma *VMA, s *shmemFile, index uint64) {
	if vma.flags&VM_RAND_READ != 0 {
		return
	}
	if s.ra.mmapMiss > 0 {
		s.ra.mmapMiss--
	}
	if s.raMark[index] {
		delete(s.raMark, index)
		v.ondemandReadahead(s, index, raPages, true)
	}
}

// getNextRASize is get_next_ra_size.
func getNextRASize(cur, max uint64) uint64 {
	switch {
	case cur < max/16:
		return 4 * cur
	case cur <= max/2:
		return 2 * cur
	}
	return max
}

// getInitRASize is get_init_ra_size.
func getInitRASize(size, max uint64) uint64 {
	n := uint64(1)
	for n < size {
		n <<= 1 // roundup_pow_of_two
	}
	switch {
	case n <= max/32:
		return n * 4
	case n <= max/4:
		return n * 2
	}
	return max
}

// ondemandReadahead models ondemand_readahead (v5.10) without the
// context readahead.
func (v *VCPU) ondemandReadahead(s *shmemFile, index, req uint64, hitMarker bool) {
	ra := &s.ra
	const max = raPages
	switch {
	case index == 0:
		ra.start, ra.size = index, getInitRASize(req, max)
		ra.asyncSize = ra.size
		if ra.size > req {
			ra.asyncSize = ra.size - req
		}
	case index == ra.start+ra.size-ra.asyncSize || index == ra.start+ra.size:
		// the expected callback: sequential, push the window forward
		ra.start += ra.size
		ra.size = getNextRASize(ra.size, max)
		ra.asyncSize = ra.size
	case hitMarker:
		start := index + 1 // page_cache_next_miss
		for ; start-index <= max; start++ {
			if _, ok := s.cache[start]; !ok {
				break
			}
		}
		if start-index > max {
			return
		}
		ra.start = start
		ra.size = start - index + req
		ra.size = getNextRASize(ra.size, max)
		ra.asyncSize = ra.size
	case req > max:
		ra.start, ra.size = index, getInitRASize(req, max)
		ra.asyncSize = ra.size
	default:
		v.doPageCacheRA(s, index, req, 0) // a standalone, small random read
		return
	}
	if index == ra.start && ra.size == ra.asyncSize {
		add := getNextRASize(ra.size, max)
		if ra.size+add <= max {
			ra.asyncSize = add
			ra.size += add
		} else {
			ra.size = max
			ra.asyncSize = max >> 1
		}
	}
	v.doPageCacheRA(s, ra.start, ra.size, ra.asyncSize)
}
