//! Search strategies: exhaustive depth-first and breadth-first search with fingerprints.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::Model;
use crate::visited::Visited;

/// How the state space is searched.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Depth-first search with fingerprints: the default; memory is the visited set plus one
    /// path and one state, changed in place.
    #[default]
    Dfs,
    /// Breadth-first search: every counterexample it reports is a shortest one. Memory is the
    /// visited set plus a (parent, action) pair per visited state and one state, which moves
    /// between them.
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

/// One state on the depth-first path: its enabled actions are `actions[start..end]` of the
/// shared action stack, and `next` is the next one to take.
struct Level {
    next: usize,
    end: usize,
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
        let fresh = self.visited.insert(self.model.fingerprint(state));
        if !fresh {
            return false;
        }
        if self
            .bounds
            .max_states
            .is_some_and(|max| self.stats.unique >= max)
        {
            // One state more than the bound allows: the run stops without exploring it.
            self.stopped = Some("max-states");
            return false;
        }
        self.stats.unique += 1;
        true
    }

    /// Counts one generated state and checks the bounds that depend on counts and time.
    fn generated(&mut self) {
        self.stats.states += 1;
        if self.stats.states % PROGRESS_EVERY == 0 {
            self.stats.elapsed = self.started.elapsed();
            (self.progress)(&self.stats);
        }
        if let Some(timeout) = self.bounds.timeout
            && self.stats.states % Bounds::TIMEOUT_CHECK_EVERY == 0
            && self.started.elapsed() >= timeout
        {
            self.stopped = Some("timeout");
        }
    }

    /// Whether schedule `a` is shorter than `b`, or as long and less (by encoded actions).
    fn better(&self, a: &[M::Action], b: &[M::Action]) -> bool {
        let code = |&x: &M::Action| self.model.encode_action(x);
        a.len() < b.len() || (a.len() == b.len() && a.iter().map(code).lt(b.iter().map(code)))
    }

    /// Records the properties in `self.raised` as found at the end of `path`.
    fn record(&mut self, path: &[M::Action], at_end: bool) {
        let mut raised = std::mem::take(&mut self.raised);
        for &property in &raised {
            let better = match self.discoveries.get(&property) {
                None => true,
                Some(old) => self.better(path, &old.path),
            };
            if better {
                self.discoveries.insert(
                    property,
                    Discovery {
                        path: path.to_vec(),
                        at_end,
                    },
                );
            }
        }
        raised.clear();
        self.raised = raised;
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

    /// A state with no enabled action ends its path: runs the end-of-path checks, leaving what
    /// they raise in `self.raised`.
    fn end_of_path(&mut self, state: &M::State) {
        self.stats.ends += 1;
        self.model.finish(state, &mut self.raised);
    }

    /// Depth-first search on one state, changed in place: each successor is applied, then
    /// fingerprinted, then (if seen, or once its subtree is done) undone. The enabled actions of
    /// every state on the path share one stack, so a step allocates nothing.
    fn dfs(&mut self) {
        let mut state = self.model.init_state();
        self.stats.states = 1;
        self.visit(&state);
        let mut path: Vec<M::Action> = Vec::new();
        let mut actions: Vec<M::Action> = Vec::new();
        self.model.actions(&state, &mut actions);
        if actions.is_empty() {
            self.end_of_path(&state);
            self.record(&path, true);
            return;
        }
        let mut levels = vec![Level {
            next: 0,
            end: actions.len(),
        }];
        while let Some(top) = levels.last_mut() {
            if self.stopped.is_some() {
                break;
            }
            if top.next == top.end {
                levels.pop();
                actions.truncate(levels.last().map_or(0, |l| l.end));
                if path.pop().is_some() {
                    self.model.undo(&mut state);
                }
                continue;
            }
            let action = actions[top.next];
            top.next += 1;
            self.model.apply(&mut state, action, &mut self.raised);
            path.push(action);
            self.generated();
            if !self.raised.is_empty() {
                self.record(&path, false);
            }
            self.note_depth(path.len());
            if !self.visit(&state) {
                path.pop();
                self.model.undo(&mut state);
                continue;
            }
            let start = actions.len();
            self.model.actions(&state, &mut actions);
            if actions.len() == start {
                self.end_of_path(&state);
                if !self.raised.is_empty() {
                    self.record(&path, true);
                }
            } else if self.may_expand(path.len()) {
                levels.push(Level {
                    next: start,
                    end: actions.len(),
                });
                continue;
            } else {
                actions.truncate(start);
            }
            path.pop();
            self.model.undo(&mut state);
        }
    }

    /// Breadth-first search without a state per queued node: each node keeps (parent, action),
    /// and one state moves between nodes by undoing to their common ancestor and applying the
    /// rest of the way ([`Search::go_to`]). Consecutive nodes in the queue are mostly siblings or
    /// cousins, so a move costs a few steps.
    fn bfs(&mut self) {
        let mut nodes: Vec<(usize, Option<M::Action>)> = vec![(usize::MAX, None)];
        let mut state = self.model.init_state();
        self.stats.states = 1;
        self.visit(&state);
        let mut at: Vec<usize> = vec![0];
        let mut queue = VecDeque::from([(0usize, 0usize)]);
        let mut actions = Vec::new();
        let mut scratch = Vec::new();
        while let Some((node, depth)) = queue.pop_front() {
            if self.stopped.is_some() {
                break;
            }
            self.go_to(&mut state, &nodes, &mut at, node, &mut scratch);
            actions.clear();
            self.model.actions(&state, &mut actions);
            if actions.is_empty() {
                self.end_of_path(&state);
                if !self.raised.is_empty() {
                    let path = path_to(&nodes, node);
                    self.record(&path, true);
                }
                continue;
            }
            if !self.may_expand(depth) {
                continue;
            }
            for &action in &actions {
                self.model.apply(&mut state, action, &mut self.raised);
                self.generated();
                let child = nodes.len();
                nodes.push((node, Some(action)));
                if !self.raised.is_empty() {
                    let path = path_to(&nodes, child);
                    self.record(&path, false);
                }
                self.note_depth(depth + 1);
                let fresh = self.visit(&state);
                self.model.undo(&mut state);
                if fresh {
                    queue.push_back((child, depth + 1));
                } else {
                    nodes.pop();
                }
                if self.stopped.is_some() {
                    break;
                }
            }
        }
    }

    /// Moves `state`, which is at the end of the node path `at` (root first), to `target`:
    /// undoes to the deepest node the two paths share, then applies the rest. What re-applied
    /// steps raise was recorded when they were first taken, and is dropped.
    fn go_to(
        &self,
        state: &mut M::State,
        nodes: &[(usize, Option<M::Action>)],
        at: &mut Vec<usize>,
        target: usize,
        chain: &mut Vec<usize>,
    ) {
        chain.clear();
        let mut n = target;
        while n != usize::MAX {
            chain.push(n);
            n = nodes[n].0;
        }
        chain.reverse();
        let shared = at
            .iter()
            .zip(chain.iter())
            .take_while(|(a, b)| a == b)
            .count();
        while at.len() > shared {
            at.pop();
            self.model.undo(state);
        }
        let mut ignored = Vec::new();
        for &n in &chain[shared..] {
            let action = nodes[n].1.expect("only the root has no action");
            self.model.apply(state, action, &mut ignored);
            ignored.clear();
            at.push(n);
        }
    }
}

/// The schedule from the root to `node`.
fn path_to<A: Copy>(nodes: &[(usize, Option<A>)], mut node: usize) -> Vec<A> {
    let mut path = Vec::new();
    while let (parent, Some(action)) = nodes[node] {
        path.push(action);
        node = parent;
    }
    path.reverse();
    path
}
