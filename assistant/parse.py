"""What a transcript asks for: an intent and its slots, by rules (deterministic, no network).

The rules are written against Whisper's output style: capitals and punctuation ("Add a todo, call
the dentist."), "to do"/"to-do"/"todo", numbers as words or digits, "a sign" for "assign". Slots
stay spoken text here (a team, a todo, a person, a date); `dialogue` resolves them against the
user's data, so this module needs no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PRIORITIES = {
    "low": "low",
    "medium": "medium",
    "normal": "medium",
    "high": "high",
    "hi": "high",
    "urgent": "urgent",
    "critical": "urgent",
}
_PRIORITY = r"(?P<priority>" + "|".join(PRIORITIES) + r")"
_DONE_WORDS = r"(?:done|complete|completed|finished|closed|checked off|ticked off)"

YES = {"yes", "yeah", "yep", "yup", "sure", "confirm", "confirmed", "correct", "affirmative", "absolutely"}
YES_PHRASES = {"ok", "okay", "do it", "go ahead", "please do", "delete it", "yes please", "that's right"}
NO = {"no", "nope", "nah", "cancel", "stop", "abort", "don't", "negative"}
NO_PHRASES = {"never mind", "nevermind", "forget it", "do not", "keep it", "leave it"}


@dataclass(frozen=True)
class Command:
    intent: str
    slots: dict[str, str] = field(default_factory=dict)


def normalize(transcript: str) -> str:
    """Lower case, "todo" spelled one way, punctuation gone, polite filler trimmed."""
    text = transcript.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\bto[\s-]?dos?\b", "todo", text)
    text = re.sub(r"\btodos\b", "todo", text)
    text = re.sub(r"\b(?:two|2)[\s-]?(?:dos|do's|does)\b", "todo", text)
    text = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1th", text)
    text = re.sub(r"(?<!\d)[.,!?;:\"()\[\]](?!\d)|[.,!?;:\"()\[\]]", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes around a title, not the one in "what's"
    text = re.sub(r"\s+", " ", text).strip(" -")
    text = re.sub(r"^(?:a sign|i sign|a signed|assigned|sign)\b", "assign", text)
    text = re.sub(r"\b(?:a sign|a signed)(?= (?:it )?to\b)", "assign", text)
    text = re.sub(r"\bwhats\b|^work's\b", "what's", text)
    text = re.sub(r"\bwhat is\b", "what's", text)
    while True:
        trimmed = re.sub(
            r"^(?:hey|hi|ok|okay|so|um|uh|please|convonet|assistant|can you|could you|would you|will you|"
            r"i want to|i'd like to|i would like to|let's|go and)\s+",
            "",
            text,
        )
        trimmed = re.sub(r"\s+(?:please|thanks|thank you|for me)$", "", trimmed)
        if trimmed == text:
            return text
        text = trimmed


def _strip_todo_words(text: str) -> str:
    text = re.sub(r"^(?:the |my |a |an )?(?:todo|task|item)(?: called| named| about)?\s+", "", text.strip())
    # Whisper's hearing of a quick "the to-do" ("Delete, not a do by mail."): "a do" starts no title
    text = re.sub(r"^(?:not |the )?a do\s+", "", text)
    text = re.sub(r"\s+(?:todo|task|item)$", "", text)
    return text.strip()


def _match(patterns: list[str], text: str) -> dict[str, str] | None:
    for pattern in patterns:
        match = re.fullmatch(pattern, text)
        if match:
            return {k: v.strip() for k, v in match.groupdict().items() if v}
    return None


_ADD = [
    r"(?:add|create|new|put|note|note down|jot down|make|set up)(?: (?:a|an|new|another))*"
    r"(?: todo| task| item| reminder)"
    r"(?: (?:called|named|saying|that says|to|for me to))?(?P<rest> .+)",
    r"(?:add|put|note down|jot down)(?P<rest> .+?) (?:to|on) (?:my|the) (?:todo )?list(?P<tail> .*)?",
    r"(?:add|put)(?P<rest> .+)",
    r"(?:remind me to|i need to|i have to|i must)(?P<rest> .+)",
    # Whisper's hearing of "add a todo" in some voices
    r"(?:order|odd|at|and|had)(?: a)? todo(?P<rest> .+)",
    r"order to(?P<rest> .+)",
    r"(?:new )?(?:todo|task)(?P<rest> .+)",
]
_HELP = [
    r"help(?: me)?",
    r"what can (?:i|you) (?:say|do|ask)(?: .*)?",
    r"(?:what are the |list )?commands",
    r"how does this work",
]
_COMPLETE = [
    r"(?:mark|set|tick|check|cross)(?: off)? (?P<todo>.+?) (?:as )?" + _DONE_WORDS,
    r"(?:mark|set) (?P<todo>.+?) (?:as )?(?:complete|finished)",
    r"(?:complete|finish|close|tick off|check off|cross off|done with|finished"
    r"|i (?:have |'ve )?(?:finished|completed|done)) (?P<todo>.+)",
    r"(?P<todo>.+?) (?:is|are|was) (?:now )?" + _DONE_WORDS,
]
_REOPEN = [
    r"(?:reopen|re-open|undo|uncheck|unmark) (?P<todo>.+)",
    r"(?:mark|set) (?P<todo>.+?) (?:as )?(?:not done|open|undone|incomplete|to be done)",
]
_ASSIGN = [
    r"(?:assign|reassign|give|get|hand|hand over|delegate)(?: the todo)? (?P<todo>.+?) to (?P<person>.+)",
    r"(?:let|have) (?P<person>\w+(?: \w+)?) (?:do|take|handle) (?P<todo>.+)",
]
_UNASSIGN = [
    r"(?:unassign|un-assign|unsign) (?P<todo>.+)",
    r"(?:remove|clear) (?:the )?assignee (?:of|from) (?P<todo>.+)",
]
_RENAME = [
    r"(?:rename|retitle)(?: the todo)? (?P<todo>.+?) (?:to|as|into) (?P<title>.+)",
    r"(?:change|update|set) (?:the )?(?:title|name) of (?P<todo>.+?) to (?P<title>.+)",
]
_PRIORITY_CHANGE = [
    r"(?:change|set|make|update|raise|lower|bump|put)(?: the)? priority (?:of|for|on|and) (?P<todo>.+?) (?:to |at )?"
    + _PRIORITY,
    r"(?:change|set|update|raise|lower|bump|put) (?P<todo>.+?)(?:'s)? priority (?:to|at) " + _PRIORITY,
    r"(?:make|set|mark|flag) (?P<todo>.+?) (?:as |to )?(?:priority )?" + _PRIORITY + r"(?: priority)?",
    r"(?:prioritize|prioritise) (?P<todo>.+?) (?:as )?" + _PRIORITY,
]
_DUE = r"(?:due|do|new)"  # Whisper writes an unstressed "due" as "do" or "new"
_DAY_WORDS = r"(?:today|tonight|tomorrow|next week|(?:next |this )?(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
_DUE_CHANGE = [
    # Whisper's "remove" for "move": a deletion takes no date, so "remove X (to) tomorrow" reschedules
    r"remove (?P<todo>.+?) (?:(?:to|until|till) )?(?P<due>" + _DAY_WORDS + ")",
    r"(?:change|set|move|update|push)(?: the)? " + _DUE + r" date (?:of|for|on|and) (?P<todo>.+?) to (?P<due>.+)",
    r"(?:change|set|move|update|push) (?P<todo>.+?)(?:'s)? " + _DUE + r" date to (?P<due>.+)",
    r"(?:set|make|mark) (?P<todo>.+?) (?:as )?" + _DUE + r" (?P<due>.+)",
    r"(?:move|push|postpone|reschedule|delay|push back) (?P<todo>.+?) (?:to|until|till) (?P<due>.+)",
    r"(?:move|push|postpone|reschedule|delay|push back) (?P<todo>.+?) (?P<due>" + _DAY_WORDS + ")",  # "to" unheard
    r"(?P<todo>.+?) (?:is|should be) due (?P<due>.+)",
]
_DELETE = [
    r"(?:delete|remove|drop|erase|trash|get rid of|scrap|discard)(?: the)?(?: todo| task)? (?P<todo>.+?)"
    r"(?: from (?:my|the) (?:todo )?list)?",
    r"cancel (?:the )?(?:todo|task) (?P<todo>.+)",
]
_LIST_START = (
    r"(?:what|list|show|read|tell me|do i have|is there|are there|anything|any|which|how many|get|give me|check)\b"
)


def _yes_no(text: str) -> str | None:
    words = text.split()
    if not words or len(words) > 4:
        return None
    if text in YES_PHRASES or words[0] in YES:
        return "confirm"
    if text in NO_PHRASES or words[0] in NO:
        return "cancel"
    return None


def _add(text: str) -> Command | None:
    slots = _match(_ADD, text)
    if slots is None:
        return None
    rest = slots["rest"]
    if slots.get("tail"):
        rest = f"{rest} {slots['tail']}"
    rest = re.sub(r"^(?:to |that |saying |called |named |:|a new )", "", rest.strip())  # "add a new, ..." too
    rest = re.sub(r"\s+(?:to|on) my (?:todo )?list\b", "", rest)
    return Command("add_todo", {"text": rest.strip()}) if rest.strip() else None


def _list(text: str) -> Command | None:
    if not re.match(_LIST_START, text) and not re.fullmatch(r"(?:my )?(?:todo|task|list)(?: list)?.*", text):
        return None
    if not re.search(r"\b(?:todo|list|open|due|new|left|pending|have|on|task|tasks|overdue|assigned|urgent)\b", text):
        return None
    slots: dict[str, str] = {}
    due = re.search(
        r"\b(?:due|do|new|for|by|on) (?P<due>today|tonight|tomorrow|this week|(?:this |next )?\w+day)\b", text
    )
    if due is None:
        due = re.search(r"\b(?P<due>today|tomorrow|this week)\b", text)
    if due:
        slots["due"] = due.group("due")
    if re.search(r"\boverdue\b", text):
        slots["overdue"] = "yes"
    team = re.search(r"\b(?:for|in|on|of) (?:the )?(?P<team>(?!my\b|me\b)[\w' ]+?)(?:'s)?(?: team)?(?: list)?$", text)
    if team and not re.fullmatch(
        r"(?:today|tonight|tomorrow|this week|(?:this |next )?\w+day|list|todo list|the list|me)", team.group("team")
    ):
        slots["team"] = team.group("team")
    else:
        owner = re.search(
            r"\b(?:what's on|show|list|read)(?: me)? (?:the )?(?P<team>[\w ]+?)(?:'s)? (?:todo )?list", text
        )
        if owner and owner.group("team") not in ("my", "todo", "the"):
            slots["team"] = owner.group("team")
        bare = re.search(r"\bopen (?P<team>(?!for\b|in\b|on\b|todo\b)[\w' ]+?)(?:'s)?(?: team)?(?: list)?$", text)
        if "team" not in slots and bare:
            slots["team"] = bare.group("team")
    if re.search(r"\b(?:my|me|i)\b", re.sub(r"^(?:show|tell|read|give) me\b", "", text)):
        slots["mine"] = "yes"
    return Command("list_todos", slots)


def parse(transcript: str) -> Command:
    """The command a transcript asks for; `unknown` when no rule fits, `empty` when nothing was said."""
    text = normalize(transcript)
    if not re.search(r"\w", text):
        return Command("empty")
    answer = _yes_no(text)
    if answer:
        return Command(answer)
    if _match(_HELP, text) is not None:
        return Command("help")
    command = _add(text)
    if command:
        return command
    for patterns, intent, extra in (
        (_RENAME, "update_todo", {}),
        (_PRIORITY_CHANGE, "update_todo", {}),
        (_DUE_CHANGE, "update_todo", {}),
        (_REOPEN, "update_todo", {"done": "no"}),
        (_UNASSIGN, "assign_todo", {"person": "nobody"}),
        (_ASSIGN, "assign_todo", {}),
        (_DELETE, "delete_todo", {}),
    ):
        slots = _match(patterns, text)
        if slots:
            if slots.get("priority"):
                slots["priority"] = PRIORITIES[slots["priority"]]
            return Command(intent, {**slots, **extra, "todo": _strip_todo_words(slots["todo"])})
    slots = _match(_COMPLETE, text)
    if slots:
        return Command("complete_todo", {"todo": _strip_todo_words(slots["todo"])})
    command = _list(text)
    if command:
        return command
    return Command("unknown", {"text": text})
