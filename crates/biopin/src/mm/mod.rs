//! Page frames, folios and their counts, zones and the allocator, the zero page, the vmstat pin
//! counters, and the record of violations every layer raises (include/linux/mm.h, mm_types.h,
//! page_ref.h, mm/page_alloc.c).

mod mem_map;
mod page;
pub mod page_ref;
mod violation;

pub use mem_map::{Gfp, MemMap, VmStat};
pub use page::{
    Frame, GUP_PIN_COUNTING_BIAS, HPAGE_PMD_ORDER, MAX_FRAMES, PageContent, PageFlags, Pfn, Writer,
    Zone,
};
pub use violation::{Events, Invariant};
