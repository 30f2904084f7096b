//! Call and return events in time order, as a doubly linked list.
//!
//! The search walks such a list from its head. Linearizing an operation *lifts* its call and return
//! events out of the list; backtracking *unlifts* them back into the very same places (Lowe's trick:
//! unlinking in O(1) and relinking in reverse order of unlinking restores the list exactly).

/// The index of the list's head sentinel.
const HEAD: usize = 0;
/// The index of the list's tail sentinel.
const TAIL: usize = 1;

/// What an event in the list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Operation `op` was called; `ret` is its return event, if it has one.
    Call { op: usize, ret: Option<usize> },
    /// Operation `op` returned.
    Return { op: usize },
    /// The end of the list.
    End,
}

/// Events linked in time order.
pub(crate) struct EventList {
    events: Vec<Event>,
    times: Vec<u64>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl EventList {
    /// The list for operations given as `(op, call time, return time if any)`. Events are ordered by
    /// time; at equal times calls come first, so operations that touch are taken as concurrent (the
    /// clock cannot tell their order).
    pub(crate) fn new(ops: &[(usize, u64, Option<u64>)]) -> Self {
        // (time, 0 = call / 1 = return, position in `ops`)
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (pos, &(_, call, ret)) in ops.iter().enumerate() {
            order.push((call, 0, pos));
            if let Some(ret) = ret {
                order.push((ret.max(call), 1, pos));
            }
        }
        order.sort_unstable();

        let mut events = vec![Event::End, Event::End];
        let mut times = vec![0, u64::MAX];
        let mut call_event = vec![usize::MAX; ops.len()];
        for &(time, kind, pos) in &order {
            let index = events.len();
            let op = ops[pos].0;
            if kind == 0 {
                call_event[pos] = index;
                events.push(Event::Call { op, ret: None });
            } else {
                if let Some(Event::Call { ret, .. }) = events.get_mut(call_event[pos]) {
                    *ret = Some(index);
                }
                events.push(Event::Return { op });
            }
            times.push(time);
        }

        // Linked in index order: head, 2, 3, ..., last, tail.
        let len = events.len();
        let last = if len > 2 { len - 1 } else { HEAD };
        let next = (0..len)
            .map(|i| match i {
                TAIL => TAIL,
                HEAD if len > 2 => 2,
                i if i != HEAD && i < last => i + 1,
                _ => TAIL,
            })
            .collect();
        let prev = (0..len)
            .map(|i| match i {
                HEAD | 2 => HEAD,
                TAIL => last,
                i => i - 1,
            })
            .collect();
        EventList { events, times, next, prev }
    }

    /// The first event still in the list (or the end).
    pub(crate) fn first(&self) -> usize {
        self.next[HEAD]
    }

    /// The event after `index`.
    pub(crate) fn next(&self, index: usize) -> usize {
        self.next[index]
    }

    /// What event `index` is.
    pub(crate) fn event(&self, index: usize) -> Event {
        self.events[index]
    }

    /// When event `index` happened (`u64::MAX` for the end).
    pub(crate) fn time(&self, index: usize) -> u64 {
        self.times[index]
    }

    /// The first return event still in the list (or the end).
    pub(crate) fn first_return(&self) -> usize {
        let mut i = self.first();
        while let Event::Call { .. } = self.events[i] {
            i = self.next[i];
        }
        i
    }

    /// Takes call event `call` and its return event out of the list.
    pub(crate) fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Event::Call { ret: Some(ret), .. } = self.events[call] {
            self.unlink(ret);
        }
    }

    /// Puts back what [`lift`](Self::lift) took out; lifts must be undone in reverse order.
    pub(crate) fn unlift(&mut self, call: usize) {
        if let Event::Call { ret: Some(ret), .. } = self.events[call] {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn unlink(&mut self, index: usize) {
        let (p, n) = (self.prev[index], self.next[index]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, index: usize) {
        let (p, n) = (self.prev[index], self.next[index]);
        self.next[p] = index;
        self.prev[n] = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(list: &EventList) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = list.first();
        loop {
            match list.event(i) {
                Event::Call { op, .. } => out.push(format!("c{op}")),
                Event::Return { op } => out.push(format!("r{op}")),
                Event::End => return out,
            }
            i = list.next(i);
        }
    }

    #[test]
    fn orders_by_time_calls_first_and_lifts_back_exactly() {
        // op 7 [0, 10], op 8 [10, 20] (touching: concurrent), op 9 [5, never)
        let mut list = EventList::new(&[(7, 0, Some(10)), (8, 10, Some(20)), (9, 5, None)]);
        assert_eq!(walk(&list), ["c7", "c9", "c8", "r7", "r8"]);
        assert_eq!(list.time(list.first_return()), 10);
        let c7 = list.first();
        let c8 = list.next(list.next(c7));
        list.lift(c7);
        list.lift(c8);
        assert_eq!(walk(&list), ["c9"]);
        assert_eq!(list.event(list.first_return()), Event::End);
        list.unlift(c8);
        list.unlift(c7);
        assert_eq!(walk(&list), ["c7", "c9", "c8", "r7", "r8"]);
    }
}
