//! The explorer on toy models whose state spaces are known exactly.

use biopin_explore::{
    Bounds, Journaled, Model, Outcome, Strategy, Table, Token, explore, journaled, replay,
};

/// `n` actors, each counting its own counter from 0 to `k`: (k+1)^n states, n·k·(k+1)^(n-1)
/// transitions, one end state. Property `Sum(s)` is raised by the step that makes the sum `s`.
struct Counters {
    n: usize,
    k: u8,
    watch_sum: u32,
}

impl Model for Counters {
    type State = Table<u8>;
    type Action = usize;
    type Property = &'static str;

    fn init_state(&self) -> Table<u8> {
        Table::new(0, self.n)
    }
    fn actions(&self, s: &Table<u8>, out: &mut Vec<usize>) {
        out.extend((0..self.n).filter(|&i| s.get(i) < self.k));
    }
    fn apply(&self, s: &mut Table<u8>, a: usize, raised: &mut Vec<&'static str>) {
        s.checkpoint();
        s.set(a, s.get(a) + 1);
        if s.as_slice().iter().map(|&c| u32::from(c)).sum::<u32>() == self.watch_sum {
            raised.push("sum");
        }
    }
    fn undo(&self, s: &mut Table<u8>) {
        s.rollback();
    }
    fn fingerprint(&self, s: &Table<u8>) -> u64 {
        s.fingerprint()
    }
    fn finish(&self, _: &Table<u8>, raised: &mut Vec<&'static str>) {
        raised.push("end");
    }
    fn encode_action(&self, a: usize) -> u32 {
        a as u32
    }
    fn decode_action(&self, code: u32) -> Option<usize> {
        ((code as usize) < self.n).then_some(code as usize)
    }
}

/// Two threads each doing `tmp = x; x = tmp + 1`: the lost update is reachable only through an
/// interleaving, and reported at the end.
struct LostUpdate;

/// `x`, and per thread its program counter and register.
#[derive(Debug)]
struct Lu {
    x: Table<u8>,
    pc: Table<u8>,
    tmp: Table<u8>,
}
journaled!(Lu { x, pc, tmp });

impl Model for LostUpdate {
    type State = Lu;
    type Action = usize;
    type Property = &'static str;
    fn init_state(&self) -> Lu {
        Lu {
            x: Table::new(0, 1),
            pc: Table::new(1, 2),
            tmp: Table::new(2, 2),
        }
    }
    fn actions(&self, s: &Lu, out: &mut Vec<usize>) {
        out.extend((0..2).filter(|&i| s.pc.get(i) < 2));
    }
    fn apply(&self, s: &mut Lu, a: usize, _: &mut Vec<&'static str>) {
        s.checkpoint();
        if s.pc.get(a) == 0 {
            s.tmp.set(a, s.x.get(0));
        } else {
            s.x.set(0, s.tmp.get(a) + 1);
        }
        s.pc.set(a, s.pc.get(a) + 1);
    }
    fn undo(&self, s: &mut Lu) {
        s.rollback();
    }
    fn fingerprint(&self, s: &Lu) -> u64 {
        s.fingerprint()
    }
    fn finish(&self, s: &Lu, raised: &mut Vec<&'static str>) {
        if s.x.get(0) != 2 {
            raised.push("lost-update");
        }
    }
    fn encode_action(&self, a: usize) -> u32 {
        a as u32
    }
    fn decode_action(&self, code: u32) -> Option<usize> {
        (code < 2).then_some(code as usize)
    }
}

fn run<M: Model>(m: &M, strategy: Strategy, bounds: Bounds) -> biopin_explore::Exploration<M> {
    explore(m, strategy, bounds, &mut |_| {})
}

#[test]
fn counters_state_space_is_exact_under_dfs_and_bfs() {
    for (n, k) in [(1usize, 1u8), (2, 3), (3, 4), (4, 5)] {
        let m = Counters {
            n,
            k,
            watch_sum: u32::MAX,
        };
        let unique = (u64::from(k) + 1).pow(n as u32);
        let transitions = n as u64 * u64::from(k) * (u64::from(k) + 1).pow(n as u32 - 1);
        for strategy in [Strategy::Dfs, Strategy::Bfs] {
            let e = run(&m, strategy, Bounds::NONE);
            assert_eq!(e.outcome, Outcome::Complete);
            assert_eq!(e.stats.unique, unique, "n={n} k={k} {strategy:?}");
            assert_eq!(e.stats.states, 1 + transitions, "n={n} k={k} {strategy:?}");
            assert_eq!(e.stats.ends, 1);
            assert_eq!(e.stats.max_depth, n as u32 * u32::from(k));
        }
    }
}

#[test]
fn the_shortest_least_path_is_kept() {
    // The sum 3 is first reached at depth 3; the least schedule of length 3 is [0, 0, 0].
    let m = Counters {
        n: 3,
        k: 3,
        watch_sum: 3,
    };
    for strategy in [Strategy::Dfs, Strategy::Bfs] {
        let e = run(&m, strategy, Bounds::NONE);
        let d = &e.discoveries["sum"];
        assert_eq!(d.path, vec![0, 0, 0], "{strategy:?}");
        assert!(!d.at_end);
        assert_eq!(e.discoveries["end"].path.len(), 9);
        assert!(e.discoveries["end"].at_end);
    }
}

#[test]
fn lost_update_is_found_only_through_interleaving() {
    let e = run(&LostUpdate, Strategy::Dfs, Bounds::NONE);
    let d = &e.discoveries["lost-update"];
    // Both read before either writes.
    assert_eq!(d.path.len(), 4);
    assert_eq!(&d.path[..2], &[0, 1]);
    // Counted by hand over the program counters (pc0, pc1): one state each for (0,0), (1,0),
    // (0,1), (2,0), (0,2), (1,1); two each for (2,1) and (1,2) (the second thread read before
    // or after the first wrote); three for (2,2) (x=2 by either order, x=1 lost): 13.
    assert_eq!(e.stats.unique, 13);
}

#[test]
fn bounds_make_the_run_incomplete_never_a_silent_pass() {
    let m = Counters {
        n: 3,
        k: 4,
        watch_sum: u32::MAX,
    };
    let e = run(&m, Strategy::Dfs, Bounds::new(Some(10), None, None));
    assert_eq!(e.outcome, Outcome::Incomplete("max-states"));
    assert!(e.stats.unique <= 11);
    let e = run(&m, Strategy::Dfs, Bounds::new(None, Some(2), None));
    assert_eq!(e.outcome, Outcome::Incomplete("max-depth"));
    assert!(!e.discoveries.contains_key("end"));
    let e = run(&m, Strategy::Bfs, Bounds::new(None, Some(2), None));
    assert_eq!(e.outcome, Outcome::Incomplete("max-depth"));
}

#[test]
fn token_round_trip_replays_the_same_failure() {
    let e = run(&LostUpdate, Strategy::Dfs, Bounds::NONE);
    let d = &e.discoveries["lost-update"];
    let schedule: Vec<u32> = d.path.iter().map(|&a| a as u32).collect();
    let token = Token {
        input_hash: 7,
        step_table: 1,
        config: "toy".into(),
        schedule,
    };
    let decoded = Token::decode(&token.encode()).unwrap();
    let (last, steps) = replay(&LostUpdate, &decoded.schedule).unwrap();
    assert_eq!(steps.len(), 4);
    let mut raised = Vec::new();
    LostUpdate.finish(&last, &mut raised);
    assert_eq!(raised, vec!["lost-update"]);
}

#[test]
fn replay_refuses_a_schedule_that_does_not_fit() {
    // Thread 0 has two steps; a third is not enabled.
    let err = replay(&LostUpdate, &[0, 0, 0]).unwrap_err();
    assert_eq!(
        err,
        biopin_explore::ReplayError::NotEnabled { step: 3, code: 0 }
    );
    let err = replay(&LostUpdate, &[5]).unwrap_err();
    assert_eq!(
        err,
        biopin_explore::ReplayError::UnknownAction { step: 1, code: 5 }
    );
}
