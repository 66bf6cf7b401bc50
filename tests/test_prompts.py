"""The prompt grammar: parsing and its errors, exact checks of scenes, true prompts, and the benchmark set."""

from collections import Counter

import numpy as np
import pytest

from worlds import Cube, Cylinder, Scene, Sphere, get_world, sample_scenes
from worlds.prompts import (
    CATEGORIES,
    Count,
    Description,
    Exists,
    PromptError,
    Relation,
    benchmark_prompts,
    check,
    check_world,
    names_held_out,
    parse,
    render_prompt,
    true_prompt,
)

# --- parsing -----------------------------------------------------------------------------


def test_the_issue_prompt_has_three_variables_and_a_back_reference():
    prompt = parse("a red cube to the left of a blue cylinder and a yellow sphere behind the cube")
    assert prompt.variables == (
        Description("cube", "red"),
        Description("cylinder", "blue"),
        Description("sphere", "yellow"),
    )
    assert prompt.facts == (Relation(0, "left", 1), Relation(2, "behind", 0))
    assert prompt.fact_texts() == ["a red cube to the left of a blue cylinder", "a yellow sphere behind the cube"]


@pytest.mark.parametrize(
    "text, variables, facts",
    [
        ("three spheres", (), (Count(3, Description("sphere")),)),
        ("a small metal cylinder", (Description("cylinder", size="small", material="metal"),), (Exists(0),)),
        ("  An Grey Rubber Thing. ", (Description(color="gray", material="matte"),), (Exists(0),)),
        ("no red cubes, one cube, and 2 objects", (), (Count(0, Description("cube", "red")),
                                                      Count(1, Description("cube")), Count(2, Description()))),
        ("a cube and a cube", (Description("cube"), Description("cube")), (Exists(0), Exists(1))),
        ("a large cube right of a sphere", (Description("cube", size="large"), Description("sphere")),
         (Relation(0, "right", 1),)),
        # 'the cube' is the latest cube introduced by an earlier fact; 'the red cube' skips the plain one
        ("a red cube, a cube and a sphere in front of the cube",
         (Description("cube", "red"), Description("cube"), Description("sphere")),
         (Exists(0), Exists(1), Relation(2, "front", 1))),
        ("a red cube, a cube and a sphere in front of the red cube",
         (Description("cube", "red"), Description("cube"), Description("sphere")),
         (Exists(0), Exists(1), Relation(2, "front", 0))),
    ],
)  # fmt: skip
def test_parse_examples(text, variables, facts):
    prompt = parse(text)
    assert (prompt.variables, prompt.facts) == (variables, facts)
    assert prompt.text == text.strip()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("a purple dragon", "unknown word 'dragon' (word 3)"),
        ("a red cube; please", "unknown word 'cube;' (word 3)"),
        ("a cube, a cubé", "unknown word 'cubé' (word 4)"),
        ("a supercalifragilisticexpialidocious", "'supercalifragilisti…'"),
        ("a red and a cube", "expected a shape after 'red' (cube, cylinder, sphere, object), got 'and'"),
        ("a red small cube", "order size, colour, material, shape"),
        ("a cube blue", "expected 'and', ',' or the end of the prompt after 'cube', got 'blue'"),
        ("a cube and", "expected a fact after 'and'"),
        ("a cube to the front of a sphere", "expected a relation after 'cube'"),
        ("a cube, a cube, a cube and a cube", "at most 3 facts, got 4"),
        ("a cube left of the sphere", "'the sphere' refers to no sphere mentioned before it"),
        ("a cube left of the cube", "'the cube' refers to no cube"),  # a relation's subject is not 'before'
        ("x" * 201, "201 characters"),
        ("11 cubes", "at most 10"),
        ("a cubes", "singular 'cube'"),
        ("three cube", "plural 'cubes'"),
    ],
)
def test_bad_prompts_say_what_is_wrong(text, message):
    with pytest.raises(PromptError) as err:
        parse(text)
    assert message in str(err.value)


def test_errors_never_echo_much_of_the_prompt():
    essay = "a cube " + "z" * 150
    with pytest.raises(PromptError) as err:
        parse(essay)
    assert "z" * 21 not in str(err.value)
    with pytest.raises(PromptError) as err:
        parse("9" * 60 + " cubes")
    assert "9" * 21 not in str(err.value)


# --- checking scenes ---------------------------------------------------------------------------


def test_check_the_issue_prompt_in_2d_fact_by_fact():
    prompt = parse("a red cube to the left of a blue cylinder and a yellow sphere behind the cube")
    cube, cylinder = Cube(color="red", position=(-1, 0)), Cylinder(color="blue", position=(1, 0))
    good = check(prompt, Scene([cube, cylinder, Sphere(color="yellow", position=(-1, 2))], view="2d"))
    assert good.facts == (True, True) and good.overall and good.binding == (0, 1, 2)
    # the sphere below (in front of) the cube, the cube right of the cylinder: both facts fail
    bad = Scene([Cube(color="red", position=(2, 0)), cylinder, Sphere(color="yellow", position=(-1, -2))], view="2d")
    assert check(prompt, bad).facts == (False, False) and not check(prompt, bad).overall


def test_2d_right_is_plus_x_and_behind_is_plus_y():
    scene = Scene([Cube(position=(-1, 0)), Sphere(position=(1, 1))], view="2d")
    truths = {
        text: check(parse(text), scene).overall
        for text in (
            "a cube to the left of a sphere",
            "a cube left of a sphere",
            "a sphere right of a cube",
            "a sphere behind a cube",
            "a cube in front of a sphere",
            "a cube to the right of a sphere",
            "a cube behind a sphere",
        )
    }
    assert list(truths.values()) == [True, True, True, True, True, False, False]


def test_3d_relations_follow_the_default_camera():
    # CLEVR's camera stands at (+x, -y): (-2, 2) is far from it, (2, -2) near, (2, 2) to its right
    scene = Scene([Sphere(position=(-2, 2)), Cube(position=(2, -2)), Cylinder(position=(2, 2))])
    assert check(parse("a sphere behind a cube"), scene).overall
    assert not check(parse("a sphere in front of a cube"), scene).overall
    assert check(parse("a cylinder to the right of a sphere"), scene).overall


def test_distinct_variables_are_distinct_objects():
    one = Scene([Cube(position=(0, 0))], view="2d")
    two = Scene([Cube(position=(0, 0)), Cube(position=(2, 0))], view="2d")
    verdict = check(parse("a cube and a cube"), one)
    assert verdict.facts == (True, True) and not verdict.overall and verdict.binding is None
    assert check(parse("a cube and a cube"), two).overall
    assert not check(parse("a cube left of a cube"), one).facts[0]
    assert check(parse("a cube left of a cube"), two).overall


def test_counts_are_exact():
    scene = Scene(
        [Cube(color="red", position=(-2, 0)), Cube(color="red", position=(0, 0)), Cube(color="blue", position=(2, 0))],
        view="2d",
    )
    for text, truth in [
        ("two red cubes", True),
        ("one red cube", False),
        ("three cubes", True),
        ("3 objects", True),
        ("no spheres", True),
        ("no cubes", False),
    ]:
        assert check(parse(text), scene).overall == truth, text
    verdict = check(parse("a red cube and no cubes"), scene)
    assert verdict.facts == (True, False) and not verdict.overall


def test_overall_needs_one_assignment_for_all_facts():
    # each fact holds on its own, but the sphere right of the cube is not the one the cylinder is behind
    scene = Scene(
        [Cube(position=(0, 0)), Sphere(position=(1, 3)), Sphere(position=(-1, 0)), Cylinder(position=(-2, 1))],
        view="2d",
    )
    verdict = check(parse("a cube to the left of a sphere and a cylinder behind the sphere"), scene)
    assert verdict.facts == (True, True) and not verdict.overall


# --- worlds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, world, message",
    [
        ("a pink cube", "shapes2d", "world 'shapes2d' has no colour 'pink'; its colours: gray, red"),
        ("a metal cube", "exact", "no material 'metal'; its materials: matte"),
        ("four cubes and a sphere", "shapes2d", "needs at least 5 objects; world 'shapes2d' holds at most 4"),
        ("two cubes and three spheres", "shapes2d", "needs at least 5 objects"),
        ("a cube and a sphere", "exact", "needs at least 2 objects"),
        ("one cube, a cube and a small cube", "clevr3d", "says 'one cube' but introduces 2"),
    ],
)
def test_check_world_names_what_the_world_lacks(text, world, message):
    with pytest.raises(PromptError) as err:
        check_world(parse(text), world)
    assert message in str(err.value)


def test_check_world_allows_what_fits_and_held_out_combinations():
    for text in ("four cubes", "two cubes, two red objects and a sphere", "a small gray metal sphere"):
        check_world(parse(text), "shapes2d")
    check_world(parse("a red cylinder"), "shapes2d-holdout")
    assert names_held_out(parse("a large red cylinder"), get_world("shapes2d-holdout").held_out)
    assert not names_held_out(parse("a red cube and two cylinders"), get_world("shapes2d-holdout").held_out)


# --- writing prompts ---------------------------------------------------------------------------


def test_render_refers_back_with_just_enough_words():
    variables = (Description("cube", "red", "small"), Description("cube", "blue"), Description("sphere"))
    facts = (Exists(0), Exists(1), Relation(2, "behind", 0))
    text = render_prompt(variables, facts)
    assert text == "a small red cube, a blue cube and a sphere behind the red cube"
    assert (parse(text).variables, parse(text).facts) == (variables, facts)
    # a later plain cube fits every word of an earlier plain cube: 'the' cannot reach it
    with pytest.raises(PromptError, match="cannot name variable 0"):
        render_prompt((Description("cube"), Description("cube", "red"), Description("sphere")), facts)
    with pytest.raises(PromptError, match="in order"):
        render_prompt(variables[:2], (Exists(1), Exists(0)))


@pytest.mark.parametrize("world", ["shapes2d", "clevr3d"])
def test_true_prompts_are_true_and_round_trip(world):
    rng = np.random.default_rng(0)
    kinds = Counter()
    for scene in sample_scenes(world, 3, 200):
        prompt, binding = true_prompt(scene, rng)
        verdict = check(prompt, scene)
        assert verdict.overall and all(verdict.facts), prompt.text
        assert len(set(binding)) == len(binding) == len(prompt.variables)
        assert all(v.matches(scene.objects[i]) for v, i in zip(prompt.variables, binding))
        assert parse(prompt.text) == prompt  # canonical text reads back to the same prompt
        check_world(prompt, world)
        kinds.update(type(fact).__name__ for fact in prompt.facts)
    assert set(kinds) == {"Exists", "Count", "Relation"}


def test_true_prompt_takes_a_number_of_facts_and_kinds():
    rng = np.random.default_rng(1)
    for scene in sample_scenes("clevr3d", 0, 20):
        prompt, _ = true_prompt(scene, rng, facts=2, kinds=("relation",))
        assert len(prompt.facts) == 2 and all(isinstance(f, Relation) for f in prompt.facts)
        assert check(prompt, scene).overall
    with pytest.raises(PromptError, match="kinds"):
        true_prompt(scene, rng, kinds=("colour",))


# --- the benchmark -----------------------------------------------------------------------------

BENCHMARKS = {"shapes2d": "shapes2d-holdout", "clevr3d": "clevr3d-cogent"}


@pytest.fixture(scope="module", params=sorted(BENCHMARKS))
def benchmark(request):
    world, held_out = request.param, get_world(BENCHMARKS[request.param]).held_out
    return world, held_out, benchmark_prompts(world, seed=0, held_out=held_out)


def test_benchmark_covers_every_category_within_the_world(benchmark):
    world, held_out, prompts = benchmark
    per_category = Counter(category for category, _ in prompts)
    assert len(prompts) >= 500 and set(per_category) == set(CATEGORIES)
    assert all(n == 70 for category, n in per_category.items() if category != "colors")
    for category, prompt in prompts:
        check_world(prompt, world)
        assert names_held_out(prompt, held_out) == (category == "held_out"), (category, prompt.text)
        assert parse(prompt.text) == prompt
    for category in CATEGORIES:
        texts = [p.text for c, p in prompts if c == category]
        assert len(texts) == len(set(texts)), category
    facts = {category: [p.facts for c, p in prompts if c == category] for category in CATEGORIES}
    assert all(len(f) == 3 and len({type(x) for x in f}) > 1 for f in facts["three_facts"])
    assert all(len(f) == 1 and isinstance(f[0], Count) and f[0].number >= 1 for f in facts["counting"])
    assert all(len(f) == 1 and isinstance(f[0], Relation) for f in facts["position"])


def test_benchmark_is_fixed_by_its_seed(benchmark):
    world, held_out, prompts = benchmark
    assert benchmark_prompts(world, seed=0, held_out=held_out) == prompts
    assert benchmark_prompts(world, seed=1, held_out=held_out) != prompts
    assert "held_out" not in {category for category, _ in benchmark_prompts(world, seed=0, per_category=5)}
