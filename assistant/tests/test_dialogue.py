"""The dialogue beyond single phrases: side effects (bells, activity, cache), questions back, bad state."""

from __future__ import annotations

import json
import time

import pytest
import redis
from django.conf import settings

from analytics.activity import get_user_activity
from assistant.dialogue import MAX_TRANSCRIPT_CHARS, respond, vocabulary
from assistant.tests.phrases import TODAY, build_demo
from teams.cache import get_user_data
from teams.models import Team, TeamMembership, Todo


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        yield build_demo()


@pytest.fixture
def say(demo, django_capture_on_commit_callbacks):
    """say(text, pending=None, user=alice) -> Turn, with on-commit work (signals) run as after a real commit."""

    def run(text: str, pending: dict | None = None, user=None):
        with django_capture_on_commit_callbacks(execute=True):
            turn = respond(user or demo.speaker, text, pending, today=TODAY)
        assert json.loads(json.dumps(turn.pending)) == turn.pending  # the caller stores it as JSON
        return turn

    return run


@pytest.fixture
def channels():
    """Subscribe to notification channels; `received()` returns (channel, message) pairs published since."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    pubsub = client.pubsub()

    def subscribe(*names: str) -> None:
        pubsub.subscribe(*names)
        confirmed = 0
        while confirmed < len(names):
            message = pubsub.get_message(timeout=2)
            assert message is not None, "no subscription confirmation"
            confirmed += message["type"] == "subscribe"

    def received(expected: int) -> list[tuple[str, dict]]:
        messages, deadline = [], time.monotonic() + 2
        while len(messages) < expected and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                messages.append((message["channel"], json.loads(message["data"])))
        return messages

    yield subscribe, received
    pubsub.close()
    client.close()


# -- the same side effects as the web pages -----------------------------------------------------------


def test_assigning_by_voice_rings_the_team_and_the_assignee(demo, say, channels):
    subscribe, received = channels
    team, bob = demo.teams["Demo team"], demo.users["bob"]
    subscribe(f"team:{team.id}:notifications", f"user:{bob.id}:notifications")
    turn = say("Assign buy milk to Bob.")
    todo = demo.todo("Buy milk")
    assert turn.actions == [{"type": "todo_updated", "todo_id": todo.id, "team_id": team.id}]
    messages = dict(received(2))
    assert messages[f"team:{team.id}:notifications"]["message"] == "“Buy milk” assigned to Bob Baker"
    assert messages[f"user:{bob.id}:notifications"]["message"] == "New todo assigned to you: “Buy milk”"
    assert {m["type"] for m in messages.values()} == {"todo_assigned"}


def test_adding_with_an_assignee_rings_like_the_web_page(demo, say, channels):
    subscribe, received = channels
    team, carol = demo.teams["Demo team"], demo.users["carol"]
    subscribe(f"user:{carol.id}:notifications")
    say("Add a todo order the cake for Demo team, assign to Carol.")
    ((_, message),) = received(1)
    assert message["todo_id"] == demo.todo("Order the cake").id and message["team_id"] == team.id


def test_changes_are_tracked_as_the_speakers_activity(demo, say):
    say("Add a todo water the plants for Ops.")
    say("Mark restart the staging server as done.")
    turn = say("Delete order coffee beans.")
    say("Yes", turn.pending)
    actions = [event["action"] for event in get_user_activity(demo.speaker.id)]
    assert actions[:3] == ["todo_deleted", "todo_updated", "todo_created"]
    assert get_user_activity(demo.users["dave"].id) == []  # the assignee did not do it


def test_the_assignees_cached_todos_follow_a_voice_change(demo, say):
    bob = demo.users["bob"]
    assert "Buy milk" not in [t["title"] for t in get_user_data(bob.id, "todos")]  # now cached
    say("Give buy milk to Bob.")
    assert "Buy milk" in [t["title"] for t in get_user_data(bob.id, "todos")]


# -- questions back and their answers ----------------------------------------------------------------


def test_two_todos_with_one_name_ask_which_one(demo, say):
    Todo.objects.create(team=demo.teams["Ops"], title="Buy milk", creator=demo.users["bob"])
    turn = say("Mark buy milk as done.")
    assert turn.reply == "Which one: 'Buy milk' in Demo team or 'Buy milk' in Ops?"
    assert (turn.ok, turn.pending["await"]) == (False, "todo")
    turn = say("The Ops one.", turn.pending)
    assert (turn.intent, turn.ok, turn.reply) == ("complete_todo", True, "Marked 'Buy milk' as done.")
    assert demo.todo("Buy milk", "Ops").done and not demo.todo("Buy milk", "Demo team").done


def test_a_question_is_answered_by_position(demo, say):
    Todo.objects.create(team=demo.teams["Ops"], title="Buy milk", creator=demo.users["bob"])
    turn = say("Delete buy milk")
    turn = say("the second one", turn.pending)
    assert turn.reply == "Say yes to delete 'Buy milk' from Ops, or no to keep it."
    turn = say("Yes, delete it.", turn.pending)
    assert turn.ok and demo.todo("Buy milk", "Ops") is None and demo.todo("Buy milk", "Demo team") is not None


def test_two_teams_that_fit_ask_which_one(demo, say):
    for name in ("Sales East", "Sales West"):
        team = Team.objects.create(name=name)
        TeamMembership.objects.create(team=team, user=demo.speaker, role="member")
    turn = say("Add a todo call the distributor for sales.")
    assert turn.reply == "Sales East or Sales West?"
    turn = say("West.", turn.pending)
    assert turn.reply == "Added 'Call the distributor' to Sales West."
    assert demo.todo("Call the distributor", "Sales West") is not None


def test_two_people_that_fit_ask_who(demo, say, make_user):
    other = make_user("bobby", teams={"Demo team": "member"})
    other.first_name, other.last_name = "Bob", "Brown"
    other.save()
    turn = say("Assign the release notes to Bob.")
    assert turn.reply == "Bob Baker or Bob Brown?"
    turn = say("Bob Brown", turn.pending)
    assert turn.reply == "Assigned 'Write the release notes' to Bob Brown."
    assert demo.todo("Write the release notes").assignee == other


def test_a_new_command_instead_of_an_answer_drops_the_question(demo, say):
    turn = say("Delete buy milk.")
    turn = say("What's on my list?", turn.pending)
    assert (turn.intent, turn.pending) == ("list_todos", None)
    assert "Buy milk" in turn.reply and demo.todo("Buy milk") is not None


def test_nonsense_instead_of_yes_or_no_repeats_the_question(demo, say):
    first = say("Delete buy milk.")
    turn = say("purple elephants", first.pending)
    assert turn.pending == first.pending and turn.reply.startswith("Please say yes or no.")
    assert demo.todo("Buy milk") is not None


def test_silence_keeps_the_question(demo, say):
    first = say("Delete buy milk.")
    turn = say("", first.pending)
    assert (turn.intent, turn.pending) == ("empty", first.pending)


def _doubting(demo, django_capture_on_commit_callbacks, doubted: str = "socks oat"):
    """A speaker whose speech model doubts the words in `doubted` (as `stt.Heard.doubts` would)."""

    def doubts(words: str) -> bool:
        return any(word in doubted.split() for word in words.lower().split())

    def run(text: str, pending: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return respond(demo.speaker, text, pending, today=TODAY, doubts=doubts)

    return run


def test_a_new_title_heard_with_doubt_is_read_back_before_it_is_written(demo, django_capture_on_commit_callbacks):
    doubting = _doubting(demo, django_capture_on_commit_callbacks)
    turn = doubting("Add restock the socks to the demo team.")
    assert (turn.ok, turn.reply) == (False, "Add 'Restock the socks' to Demo team? Say yes or no.")
    assert demo.todo("Restock the socks") is None
    turn = doubting("yes", turn.pending)
    assert (turn.ok, turn.reply) == (True, "Added 'Restock the socks' to Demo team.")
    assert demo.todo("Restock the socks") is not None


def test_no_to_a_doubted_title_writes_nothing_and_says_what_to_do(demo, django_capture_on_commit_callbacks):
    doubting = _doubting(demo, django_capture_on_commit_callbacks)
    before = Todo.objects.count()
    turn = doubting("no", doubting("Add restock the socks to the demo team.").pending)
    assert (turn.ok, turn.pending, turn.reply) == (True, None, "OK, I didn't add it. Say it again, or type it.")
    assert Todo.objects.count() == before


def test_a_new_name_heard_with_doubt_is_read_back_and_the_old_one_kept_on_no(demo, django_capture_on_commit_callbacks):
    doubting = _doubting(demo, django_capture_on_commit_callbacks)
    asked = doubting("Rename buy milk to buy oat milk.")
    assert asked.reply == "Rename 'Buy milk' to 'Buy oat milk'? Say yes or no."
    assert doubting("no", asked.pending).reply == "OK, I kept 'Buy milk'. Say it again, or type it."
    assert demo.todo("Buy milk") is not None
    assert doubting("yes", asked.pending).reply == "Renamed 'Buy milk' to 'Buy oat milk'."
    assert demo.todo("Buy oat milk") is not None and demo.todo("Buy milk") is None


def test_an_add_heard_as_and_is_read_back_not_dropped(demo, say):
    turn = say("And buy a new kettle for the demo team.")
    assert (turn.intent, turn.reply) == ("add_todo", "Add 'Buy a new kettle' to Demo team? Say yes or no.")
    assert demo.todo("Buy a new kettle") is None
    assert say("yes", turn.pending).reply == "Added 'Buy a new kettle' to Demo team."


def test_and_before_a_command_is_still_the_command(demo, say):
    assert say("And mark buy milk as done.").reply == "Marked 'Buy milk' as done."


def test_a_new_title_heard_without_doubt_is_written_at_once(demo, django_capture_on_commit_callbacks):
    turn = _doubting(demo, django_capture_on_commit_callbacks)("Add restock the snacks to the demo team.")
    assert (turn.ok, turn.reply) == (True, "Added 'Restock the snacks' to Demo team.")


def test_doubt_holds_back_only_words_heard_as_free_text(demo, django_capture_on_commit_callbacks):
    """A todo or a person named is matched against what exists, so a mishearing is "couldn't find", never a change
    to the wrong thing: those commands are not asked twice."""
    turn = _doubting(demo, django_capture_on_commit_callbacks, doubted="buy milk")("Mark buy milk as done.")
    assert (turn.ok, turn.reply) == (True, "Marked 'Buy milk' as done.")


def test_a_question_about_a_named_todo_answers_with_that_todo_and_its_state(demo, say):
    say("Mark buy milk as done.")
    turn = say("Who's on buy milk?")
    assert turn.intent == "list_todos" and turn.reply.startswith("'Buy milk'"), turn.reply
    assert turn.reply.endswith(", done.") and "open" not in turn.reply, turn.reply


def test_a_todo_deleted_before_the_yes_is_reported_gone(demo, say):
    turn = say("Delete buy milk.")
    demo.todo("Buy milk").delete()
    turn = say("yes", turn.pending)
    assert (turn.ok, turn.reply) == (False, "That todo is gone: someone deleted it meanwhile.")


def test_a_todo_changed_after_the_question_is_asked_about_again_not_deleted(demo, say):
    turn = say("Delete buy milk.")
    todo = demo.todo("Buy milk")
    todo.title = "Pay the rent"
    todo.save()
    again = say("yes", turn.pending)
    assert not again.ok and again.pending is not None
    assert "changed since I asked" in again.reply and "Pay the rent" in again.reply
    assert Todo.objects.filter(pk=todo.pk).exists()
    done = say("yes", again.pending)  # the yes to the todo as it is now
    assert done.ok and not Todo.objects.filter(pk=todo.pk).exists()


def test_losing_the_editor_role_before_the_yes_refuses(demo, say):
    turn = say("Delete buy milk.")
    TeamMembership.objects.filter(team=demo.teams["Demo team"], user=demo.speaker).update(role="viewer")
    turn = say("yes", turn.pending)
    assert (turn.ok, turn.reply) == (False, "Viewers can't delete todos in Demo team.")
    assert demo.todo("Buy milk") is not None


@pytest.mark.parametrize(
    "pending",
    [
        "not a dict",
        {"intent": "drop_tables", "slots": {}},
        {"intent": "delete_todo", "slots": {"todo_id": "1; DROP"}, "await": "confirm"},
        {"intent": "add_todo", "slots": {}, "await": "team", "options": [{"id": True}]},
        {"intent": "add_todo", "slots": [], "await": "team"},
    ],
)
def test_pending_state_not_written_by_the_dialogue_is_ignored(demo, say, pending):
    turn = say("yes", pending)
    assert (turn.intent, turn.reply) == ("confirm", "There's nothing to confirm right now.")
    assert demo.todo("Buy milk") is not None


# -- refusals and bad input -------------------------------------------------------------------------------


def test_a_team_the_user_is_not_in_is_not_found(demo, say):
    Team.objects.create(name="Finance")
    turn = say("What's open for finance?")
    assert (turn.ok, turn.reply) == (False, "You're not in a team called finance.")
    turn = say("Add a todo audit the books for the Finance team.")
    assert (turn.ok, turn.reply) == (False, "You're not in a team called finance.")


def test_other_teams_todos_are_out_of_reach(demo, say):
    turn = say("Mark plan the launch party as done.", user=demo.users["dave"])
    assert (turn.ok, turn.reply) == (False, "I couldn't find a todo called 'plan the launch party'.")
    assert not demo.todo("Plan the launch party").done


def test_a_user_without_teams_is_told_to_create_one(demo, say, make_user):
    turn = say("Add a todo buy milk.", user=make_user("loner"))
    assert (turn.ok, turn.reply) == (False, "You're not in any team yet. Create one on the Teams page first.")


def test_an_overlong_title_is_refused_by_the_models_validation(demo, say):
    turn = say("Add a todo " + "very " * 45 + "long for Ops")
    assert (turn.ok, turn.reply) == (False, "That title is too long: todos have 200 characters at most.")
    assert not Todo.objects.filter(title__startswith="Very").exists()


def test_an_overlong_transcript_is_not_parsed(demo, say):
    turn = say("add a todo " + "x" * MAX_TRANSCRIPT_CHARS)
    assert (turn.intent, turn.ok) == ("unknown", False)
    assert "too long" in turn.reply


def test_an_unparseable_date_is_explained(demo, say):
    turn = say("Move buy milk to someday.")
    assert (turn.ok, turn.reply) == (
        False,
        "I didn't understand the date 'someday'. Try: tomorrow, Friday, or May 3rd.",
    )


def test_reopening_a_done_todo(demo, say):
    say("Mark buy milk as done.")
    turn = say("Reopen buy milk.")
    assert (turn.intent, turn.reply) == ("update_todo", "Reopened 'Buy milk'.")
    assert not demo.todo("Buy milk").done


# -- the speech-to-text prompt -----------------------------------------------------------------------------


def test_vocabulary_names_the_users_world_and_nobody_elses(demo):
    outsider_team = Team.objects.create(name="Secret project")
    Todo.objects.create(team=outsider_team, title="Hidden plan")
    text = vocabulary(demo.speaker, TODAY)
    for word in ("Add a todo", "Demo team", "Ops", "Marketing", "Bob Baker", "Dave Diaz", "Buy milk", "Draft the"):
        assert word in text, word
    assert "Secret project" not in text and "Hidden plan" not in text
    assert "Alice Archer" not in text  # the speaker is not their own teammate


def test_vocabulary_stays_bounded(demo):
    team = demo.teams["Ops"]
    Todo.objects.bulk_create(Todo(team=team, title=f"Task number {i} " + "x" * 150) for i in range(100))
    assert len(vocabulary(demo.speaker, TODAY)) <= 900


# -- what Whisper (base, int8) actually wrote for espeak-ng's voices saying the phrase set ----------------------


@pytest.mark.parametrize(
    ("heard", "title", "expected"),
    [
        ("Order to do, call the dentist, for Demo team.", "Call the dentist", {"team": "Demo team"}),
        (
            "Add a todo, send the invoice for Demo team, do tomorrow.",
            "Send the invoice",
            {"due_date": TODAY.replace(day=2)},
        ),
        (
            "Order to do clean the fridge for the Demo team, new Friday.",
            "Clean the fridge",
            {"due_date": TODAY.replace(day=4)},
        ),
        (
            "Add a todo, rotate the API keys for RAPs, urgent.",
            "Rotate the API keys",
            {"team": "Ops", "priority": "urgent"},
        ),
        ("Add a todo, order pizza for Carol and Demo team.", "Order pizza", {"team": "Demo team", "assignee": "carol"}),
        ("Add a todo, call the bank, Demo team, today.", "Call the bank", {"due_date": TODAY}),
        ("Add a new, Water the plants, for the Ops team.", "Water the plants", {"team": "Ops"}),
        (
            "Add a todo, water, the plants, for the Demo team assigned to, Bob.",
            "Water the plants",
            {"team": "Demo team", "assignee": "bob"},
        ),
        ("Mark my milk as done.", "Buy milk", {"done": True}),
        ("Sign Fix the login bug to Alice.", "Fix the login bug", {"assignee": "alice"}),
        ("Change the new date on Buy milk to Thursday.", "Buy milk", {"due_date": TODAY.replace(day=3)}),
        (
            "Set the release notes, do on the 10th of December.",
            "Write the release notes",
            {"due_date": TODAY.replace(day=10)},
        ),
        ("Assign by milk, to nobody.", "Buy milk", {"assignee": None}),
        ("Assign buy milk, to no bother.", "Buy milk", {"assignee": None}),
        ("Change the priority of the meeting room, urgent.", "Book a meeting room", {"priority": "urgent"}),
        ("Change the due date and buy milk to Thursday.", "Buy milk", {"due_date": TODAY.replace(day=3)}),
        ("Remove the staging server to tomorrow.", "Restart the staging server", {"due_date": TODAY.replace(day=2)}),
        ("Remove the staging server tomorrow.", "Restart the staging server", {"due_date": TODAY.replace(day=2)}),
        ("Move the staging server Friday.", "Restart the staging server", {"due_date": TODAY.replace(day=4)}),
        (
            "Add a todo, Renew the domain for Lobs, New December 15th.",
            "Renew the domain",
            {"team": "Ops", "due_date": TODAY.replace(day=15)},
        ),
        ("Get order coffee beans to me.", "Order coffee beans", {"assignee": "alice"}),
        ("Order to do prepare the demo for Demo team, unassign it to Bob.", "Prepare the demo", {"assignee": "bob"}),
    ],
)
def test_whisper_hearings_still_do_what_was_meant(demo, say, heard, title, expected):
    turn = say(heard)
    assert turn.ok, turn.reply
    todo = demo.todo(title)
    assert todo is not None, turn.reply
    actual = {
        "team": todo.team.name,
        "priority": todo.priority,
        "due_date": todo.due_date,
        "done": todo.done,
        "assignee": todo.assignee.username if todo.assignee else None,
    }
    assert {key: actual[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("heard", "intent", "words"),
    [
        ("What's new today?", "list_todos", ["Fix the login bug", "Renew the SSL certificate"]),
        ("Work's open for the Ops team.", "list_todos", ["Restart the staging server"]),
    ],
)
def test_whisper_hearings_of_questions(say, heard, intent, words):
    turn = say(heard)
    assert turn.intent == intent and all(word in turn.reply for word in words), turn.reply


def test_a_misheard_the_todo_still_names_the_todo(demo, say):
    turn = say("Delete, not a do by mail.")
    assert turn.intent == "delete_todo" and "Buy milk" in turn.reply and turn.pending, turn.reply
    assert say("Yes, please.", turn.pending).intent == "delete_todo"
    assert demo.todo("Buy milk") is None


@pytest.mark.parametrize(("heard", "intent"), [("Consul.", "cancel"), ("Yeah.", "delete_todo")])
def test_a_sound_alike_answers_a_yes_no_question(demo, say, heard, intent):
    turn = say("Delete buy milk.")
    turn = say(heard, turn.pending)
    assert turn.intent == intent
    assert (demo.todo("Buy milk") is None) == (intent == "delete_todo")


# -- what must change nothing, or only what was meant (issue 17, found by probing beyond the eval sets) ---------


@pytest.mark.parametrize(
    ("heard", "title"),
    [
        ("Bob booked the release notes.", "Write the release notes"),  # the title's words, another deed
        ("Bob's got the login bug.", "Fix the login bug"),  # having it, not doing it
        ("The release notes were written wrong.", "Write the release notes"),
        ("The release notes are written tomorrow.", "Write the release notes"),  # a plan
    ],
)
def test_a_deed_that_is_not_the_todo_ticks_nothing_off(demo, say, heard, title):
    say(heard)
    assert demo.todo(title).done is False


def test_somebody_is_never_nobody(demo, say):
    turn = say("Can somebody take the login bug?")
    assert demo.todo("Fix the login bug").assignee.username == "bob", turn.reply


def test_a_day_or_a_teammate_is_no_new_title(demo, say):
    say("Switch buy milk to Thursday.")
    assert demo.todo("Buy milk").due_date == TODAY.replace(day=3)
    say("Change the release notes to Carol.")
    assert demo.todo("Write the release notes").assignee.username == "carol"


def test_a_need_already_on_the_list_adds_nothing(demo, say):
    before = Todo.objects.count()
    turn = say("Dave needs to restart the staging server.")  # Dave is only in Ops: no question of which team
    assert Todo.objects.count() == before, turn.reply


def test_an_add_to_the_list_keeps_the_list_out_of_the_title(demo, say):
    say("Add call the plumber to the list for Ops.")
    assert demo.todo("Call the plumber", "Ops") is not None


def test_due_by_a_day_is_every_day_until_then(say):
    turn = say("What's due by Friday?")
    assert turn.intent == "list_todos"
    for title in ("Fix the login bug", "Write the release notes", "Book a meeting room", "Renew the SSL certificate"):
        assert title in turn.reply, turn.reply
    assert "Buy milk" not in turn.reply


def test_new_before_a_thing_is_part_of_its_title(demo, say):
    say("Could you put new mugs on the Ops list?")
    assert demo.todo("New mugs", "Ops") is not None, [t.title for t in Todo.objects.all()]


def test_adding_a_title_already_open_in_the_team_makes_no_second_copy(demo, say):
    turn = say("Add order coffee beans to Ops.")
    assert (turn.ok, Todo.objects.filter(title="Order coffee beans").count()) == (False, 1), turn.reply
    assert "already" in turn.reply


@pytest.mark.parametrize("heard", ["I'll put the milk in the fridge.", "I'll put the bins out."])
def test_putting_a_thing_somewhere_adds_nothing(demo, say, heard):
    before = Todo.objects.count()
    turn = say(heard)
    assert (turn.intent, Todo.objects.count()) == ("unknown", before), turn.reply


def test_a_sentence_naming_only_people_and_todos_of_other_teams_is_not_understood(demo, say, make_user):
    finance = Team.objects.create(name="Finance")
    erin = make_user("erin")
    erin.first_name = "Erin"
    erin.save()
    TeamMembership.objects.create(team=finance, user=erin, role="owner")
    turn = say("Erin should cover the audit.")
    assert (turn.intent, turn.ok) == ("unknown", False), turn.reply


def test_an_assignment_with_a_priority_after_it_sets_both_and_one_undo_takes_both_back(
    demo, say, django_capture_on_commit_callbacks
):
    turn = say("Assign the release notes to Carol and make it urgent.")
    todo = demo.todo("Write the release notes")
    assert (todo.assignee.username, todo.priority) == ("carol", "urgent"), turn.reply
    with django_capture_on_commit_callbacks(execute=True):
        respond(demo.speaker, "Undo.", today=TODAY, memory=turn.memory)
    todo = demo.todo("Write the release notes")
    assert (todo.assignee, todo.priority) == (None, "medium")


def test_a_question_about_two_teammates_is_answered_about_both(demo, say):
    turn = say("What have Bob and Carol got?")
    assert turn.intent == "list_todos", turn.reply
    assert "Fix the login bug" in turn.reply and "Plan the launch party" in turn.reply, turn.reply
    assert "Buy milk" not in turn.reply and "Restart the staging server" not in turn.reply


def test_adding_a_teammate_to_a_team_adds_no_todo_named_after_them(demo, say):
    before = Todo.objects.count()
    turn = say("Add Carol to Ops.")
    assert (turn.ok, Todo.objects.count()) == (False, before), turn.reply


def test_done_but_for_a_part_ticks_nothing_off(demo, say):
    say("The release notes are written apart from the intro.")
    assert demo.todo("Write the release notes").done is False


def test_asking_whether_someone_does_a_todo_they_do_not_have_names_the_todo_and_its_owner(demo, say):
    turn = say("Is Carol doing the login bug?")
    assert turn.intent == "list_todos" and "Fix the login bug" in turn.reply and "Bob" in turn.reply, turn.reply
