//! Search strategies: exhaustive depth-first and breadth-first search with fingerprints.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

use nohash_hasher::NoHashHasher;

use crate::fingerprint::fingerprint;
use crate::model::Model;

/// Fingerprints are already uniformly distributed, so the visited set hashes them by identity.
type Visited = HashSet<u64, BuildHasherDefault<NoHashHasher<u64>>>;

/// How the state space is searched.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Depth-first search with fingerprints: the default; memory is the visited set plus one
    /// path.
    #[default]
    Dfs,
    /// Breadth-first search: every counterexample it reports is a shortest one.
    Bfs,
}

/// Limits on one exploration. Hitting any of them makes the outcome
/// [`Outcome::Incomplete`]: never a silent pass.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Stop after this many unique states.
    pub max_states: Option<u64>,
    /// Do not expand states this many steps from the initial state.
    pub max_depth: Option<u32>,
    /// Stop after this much wall time (checked every [`Bounds::TIMEOUT_CHECK_EVERY`] states).
    pub timeout: Option<Duration>,
}

impl Bounds {
    /// No bound: explore everything.
    pub const NONE: Bounds = Bounds {
        max_states: None,
        max_depth: None,
        timeout: None,
    };

    /// Reading the clock costs about as much as a small step, so it is read once per this many
    /// generated states; a timeout can overshoot by that many states.
    pub const TIMEOUT_CHECK_EVERY: u64 = 1024;

    /// Bounds with the given limits.
    pub fn new(max_states: Option<u64>, max_depth: Option<u32>, timeout: Option<Duration>) -> Self {
        Bounds {
            max_states,
            max_depth,
            timeout,
        }
    }
}

/// Whether the whole reachable state space was explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every reachable state was visited: the discoveries are all the properties any path
    /// violates.
    Complete,
    /// A bound stopped the search; properties not found may still be violated.
    Incomplete(&'static str),
}

/// Counters of one exploration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// States generated: the initial state plus one per transition taken, duplicates included.
    pub states: u64,
    /// Distinct states visited.
    pub unique: u64,
    /// The longest path explored, in steps.
    pub max_depth: u32,
    /// States in which no action was enabled (ends of paths), distinct.
    pub ends: u64,
    /// Wall time of the search.
    pub elapsed: Duration,
}

impl Stats {
    /// Generated states per second of wall time (0 when no time was measured).
    pub fn states_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.states as f64 / secs
        } else {
            0.0
        }
    }
}

/// The shortest path found to a violation of one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery<A> {
    /// The schedule from the initial state; the property is raised by its last step, or by the
    /// end of the path when `at_end` is set.
    pub path: Vec<A>,
    /// Raised by the end-of-path checks of the state the path reaches, not by its last step.
    pub at_end: bool,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Exploration<M: Model> {
    /// For each violated property, the shortest path found (ties: the least schedule).
    pub discoveries: BTreeMap<M::Property, Discovery<M::Action>>,
    /// Counters.
    pub stats: Stats,
    /// Whether the search was exhaustive.
    pub outcome: Outcome,
}

/// Explores `model` with `strategy` within `bounds`, calling `progress` now and then (every
/// [`PROGRESS_EVERY`] generated states) so long runs can show it.
pub fn explore<M: Model>(
    model: &M,
    strategy: Strategy,
    bounds: Bounds,
    progress: &mut dyn FnMut(&Stats),
) -> Exploration<M> {
    let mut search = Search::new(model, bounds, progress);
    match strategy {
        Strategy::Dfs => search.dfs(),
        Strategy::Bfs => search.bfs(),
    }
    search.stats.elapsed = search.started.elapsed();
    Exploration {
        discoveries: search.discoveries,
        stats: search.stats,
        outcome: search
            .stopped
            .map_or(Outcome::Complete, Outcome::Incomplete),
    }
}

/// How often, in generated states, `explore` reports progress.
pub const PROGRESS_EVERY: u64 = 1 << 16;

struct Search<'a, M: Model> {
    model: &'a M,
    bounds: Bounds,
    progress: &'a mut dyn FnMut(&Stats),
    visited: Visited,
    discoveries: BTreeMap<M::Property, Discovery<M::Action>>,
    stats: Stats,
    started: Instant,
    stopped: Option<&'static str>,
    raised: Vec<M::Property>,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, bounds: Bounds, progress: &'a mut dyn FnMut(&Stats)) -> Self {
        Search {
            model,
            bounds,
            progress,
            visited: Visited::default(),
            discoveries: BTreeMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
            stopped: None,
            raised: Vec::new(),
        }
    }

    /// Marks a state visited; false if it was already.
    fn visit(&mut self, state: &M::State) -> bool {
        let fresh = self.visited.insert(fingerprint(state));
        if fresh {
            self.stats.unique += 1;
        }
        fresh
    }

    /// Counts one generated state and checks the bounds that depend on counts and time.
    fn generated(&mut self) {
        self.stats.states += 1;
        if self.stats.states % PROGRESS_EVERY == 0 {
            self.stats.elapsed = self.started.elapsed();
            (self.progress)(&self.stats);
        }
        if let Some(max) = self.bounds.max_states
            && self.stats.unique >= max
        {
            self.stopped = Some("max-states");
        }
        if let Some(timeout) = self.bounds.timeout
            && self.stats.states % Bounds::TIMEOUT_CHECK_EVERY == 0
            && self.started.elapsed() >= timeout
        {
            self.stopped = Some("timeout");
        }
    }

    /// Records the properties in `self.raised` as found at the end of `path` (built lazily: most
    /// steps raise nothing).
    fn record(&mut self, path: impl FnOnce() -> Vec<M::Action>, at_end: bool) {
        if self.raised.is_empty() {
            return;
        }
        let path = path();
        let key: Vec<u32> = path.iter().map(|&a| self.model.encode_action(a)).collect();
        for property in std::mem::take(&mut self.raised) {
            let better = match self.discoveries.get(&property) {
                None => true,
                Some(old) => {
                    let old_key: Vec<u32> = old
                        .path
                        .iter()
                        .map(|&a| self.model.encode_action(a))
                        .collect();
                    (key.len(), &key) < (old_key.len(), &old_key)
                }
            };
            if better {
                self.discoveries.insert(
                    property,
                    Discovery {
                        path: path.clone(),
                        at_end,
                    },
                );
            }
        }
    }

    fn note_depth(&mut self, depth: usize) {
        let depth = u32::try_from(depth).unwrap_or(u32::MAX);
        self.stats.max_depth = self.stats.max_depth.max(depth);
    }

    /// Whether a state at `depth` may be expanded; marks the run incomplete if not.
    fn may_expand(&mut self, depth: usize) -> bool {
        match self.bounds.max_depth {
            Some(max) if depth >= max as usize => {
                self.stopped = Some("max-depth");
                false
            }
            _ => true,
        }
    }

    /// A state with no enabled action ends its path: run the end-of-path checks.
    fn end_of_path(&mut self, state: &M::State, path: impl FnOnce() -> Vec<M::Action>) {
        self.stats.ends += 1;
        self.model.finish(state, &mut self.raised);
        self.record(path, true);
    }

    fn dfs(&mut self) {
        struct Frame<S, A> {
            state: S,
            actions: Vec<A>,
            next: usize,
        }
        let init = self.model.init_state();
        self.stats.states = 1;
        self.visit(&init);
        let mut path: Vec<M::Action> = Vec::new();
        let mut stack: Vec<Frame<M::State, M::Action>> = Vec::new();
        let mut actions = Vec::new();
        self.model.actions(&init, &mut actions);
        if actions.is_empty() {
            self.end_of_path(&init, Vec::new);
            return;
        }
        stack.push(Frame {
            state: init,
            actions,
            next: 0,
        });
        while let Some(top) = stack.last_mut() {
            if self.stopped.is_some() {
                break;
            }
            let Some(&action) = top.actions.get(top.next) else {
                stack.pop();
                path.pop();
                continue;
            };
            top.next += 1;
            let next = self.model.next_state(&top.state, action, &mut self.raised);
            path.push(action);
            self.generated();
            self.record(|| path.clone(), false);
            self.note_depth(path.len());
            if !self.visit(&next) {
                path.pop();
                continue;
            }
            let mut actions = Vec::new();
            self.model.actions(&next, &mut actions);
            if actions.is_empty() {
                self.end_of_path(&next, || path.clone());
                path.pop();
            } else if self.may_expand(path.len()) {
                stack.push(Frame {
                    state: next,
                    actions,
                    next: 0,
                });
            } else {
                path.pop();
            }
        }
    }

    fn bfs(&mut self) {
        // Each queued state names its node; nodes record (parent, action) to rebuild paths.
        let mut nodes: Vec<(usize, Option<M::Action>)> = vec![(usize::MAX, None)];
        let rebuild = |nodes: &[(usize, Option<M::Action>)], mut at: usize| {
            let mut path = Vec::new();
            while let (parent, Some(action)) = nodes[at] {
                path.push(action);
                at = parent;
            }
            path.reverse();
            path
        };
        let init = self.model.init_state();
        self.stats.states = 1;
        self.visit(&init);
        let mut queue = VecDeque::from([(init, 0usize, 0usize)]);
        let mut actions = Vec::new();
        while let Some((state, node, depth)) = queue.pop_front() {
            if self.stopped.is_some() {
                break;
            }
            actions.clear();
            self.model.actions(&state, &mut actions);
            if actions.is_empty() {
                self.end_of_path(&state, || rebuild(&nodes, node));
                continue;
            }
            if !self.may_expand(depth) {
                continue;
            }
            for &action in &actions {
                let next = self.model.next_state(&state, action, &mut self.raised);
                self.generated();
                let child = nodes.len();
                nodes.push((node, Some(action)));
                self.record(|| rebuild(&nodes, child), false);
                self.note_depth(depth + 1);
                if self.visit(&next) {
                    queue.push_back((next, child, depth + 1));
                } else {
                    nodes.pop();
                }
                if self.stopped.is_some() {
                    break;
                }
            }
        }
    }
}
