//! The world's state API under the explorer: on every state of the shipped suite under every
//! preset, by DFS and by BFS, the incremental fingerprint equals a full recomputation, and every
//! undo restores exactly the world before its step.

use std::cell::RefCell;

use biopin::mm::Invariant;
use biopin::{Action, Design, KernelModel, World, load_file};
use biopin_explore::{Bounds, Journaled, Model, Strategy, explore};

use crate::shipped::shipped;

/// The kernel model, checking the state API at every step.
struct Checked<'p> {
    inner: KernelModel<'p>,
    /// The world before each step not yet undone, and its fingerprint.
    before: RefCell<Vec<(World, u64)>>,
    steps: RefCell<u64>,
}

impl Model for Checked<'_> {
    type State = World;
    type Action = Action;
    type Property = Invariant;

    fn init_state(&self) -> World {
        let w = self.inner.init_state();
        assert_eq!(w.fingerprint(), w.recompute_fingerprint());
        w
    }
    fn actions(&self, s: &World, out: &mut Vec<Action>) {
        self.inner.actions(s, out);
    }
    fn apply(&self, s: &mut World, a: Action, raised: &mut Vec<Invariant>) {
        self.before.borrow_mut().push((s.clone(), s.fingerprint()));
        self.inner.apply(s, a, raised);
        assert_eq!(
            s.fingerprint(),
            s.recompute_fingerprint(),
            "incremental fingerprint after {a:?}"
        );
        *self.steps.borrow_mut() += 1;
    }
    fn undo(&self, s: &mut World) {
        self.inner.undo(s);
        let (world, fp) = self.before.borrow_mut().pop().unwrap();
        assert!(*s == world, "the undo did not restore the world");
        assert_eq!(s.fingerprint(), fp);
    }
    fn fingerprint(&self, s: &World) -> u64 {
        self.inner.fingerprint(s)
    }
    fn finish(&self, s: &World, raised: &mut Vec<Invariant>) {
        Model::finish(&self.inner, s, raised);
    }
    fn encode_action(&self, a: Action) -> u32 {
        self.inner.encode_action(a)
    }
    fn decode_action(&self, code: u32) -> Option<Action> {
        self.inner.decode_action(code)
    }
}

#[test]
fn fingerprints_are_incremental_and_undo_is_exact_on_every_shipped_state() {
    let mut steps = 0;
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for design in Design::all() {
            for strategy in [Strategy::Dfs, Strategy::Bfs] {
                let model = Checked {
                    inner: KernelModel::new(&program, design),
                    before: RefCell::new(Vec::new()),
                    steps: RefCell::new(0),
                };
                let plain = biopin::check(&program, design, strategy, Bounds::NONE, &mut |_| {});
                let checked = explore(&model, strategy, Bounds::NONE, &mut |_| {});
                assert_eq!(checked.stats.unique, plain.stats.unique);
                steps += *model.steps.borrow();
            }
        }
    }
    assert!(steps > 1000, "only {steps} steps checked");
}

#[test]
fn equal_worlds_reached_by_different_paths_have_equal_fingerprints() {
    // Two actors storing to different pages: either order reaches the same world.
    let program = biopin::ScenarioBuilder::new("commute")
        .process("app", |p| p.anon("buf", 2))
        .actor("a", ["store app:buf[0] 1"])
        .actor("b", ["store app:buf[1] 2"])
        .build()
        .unwrap();
    let model = KernelModel::new(&program, Design::parse("linux-6.5").unwrap());
    let run = |order: [usize; 2]| {
        let mut w = model.init_state();
        let mut raised = Vec::new();
        for a in order {
            model.apply(&mut w, Action::Actor(a), &mut raised);
        }
        w
    };
    let (ab, ba) = (run([1, 2]), run([2, 1]));
    // Frames are allocated in a different order, so the worlds differ in which frame holds
    // which page; the fingerprint must tell them apart exactly when the worlds differ.
    assert_eq!(ab == ba, ab.fingerprint() == ba.fingerprint());
    let again = run([1, 2]);
    assert!(ab == again);
    assert_eq!(ab.fingerprint(), again.fingerprint());
}
