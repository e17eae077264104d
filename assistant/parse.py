"""A transcript made ready for the sentence templates, and the short answers to a question.

Whisper writes the same words many ways: capitals and punctuation ("Add a todo, call the dentist."), "to do",
"to-do" and "todo", numbers as words or digits, "a sign" for "assign". `normalize` writes them one way, and drops
the polite openings and endings the templates need not spell out ("um, could you ...", "... thanks").
"""

from __future__ import annotations

import re

PRIORITIES = {
    "low": "low",
    "medium": "medium",
    "normal": "medium",
    "high": "high",
    "hi": "high",
    "urgent": "urgent",
    "critical": "urgent",
}

YES = {"yes", "yeah", "yep", "yup", "sure", "confirm", "confirmed", "correct", "affirmative", "absolutely", "yah"}
YES_PHRASES = {"ok", "okay", "do it", "go ahead", "please do", "delete it", "yes please", "that's right", "go for it"}
NO = {"no", "nope", "nah", "cancel", "stop", "abort", "don't", "negative"}
NO_PHRASES = {"never mind", "nevermind", "forget it", "do not", "keep it", "leave it", "no thanks", "no thank you"}
#: Openings that ask nothing themselves ("um, could you please ...").
_OPENINGS = (
    r"hey|hi|ok|okay|so|um|uh|erm|er|hmm|right|oh|alright|all right|please|convonet|assistant|can you|could you|"
    r"would you|will you|can you please|i want to|i'd like to|i would like to|let's|go and|actually|sorry|no wait|"
    r"wait|oops|and|also|then|just|quickly|quick|kindly|have a look at|take a look at|look at|let me know|"
    r"can you tell me|could you tell me|tell me"
)
#: What Whisper writes for words of a command, put right: "whats due to day", "push it to next weak".
_SOUND_ALIKE = [
    # ("to night shift" is a team: only a "to day"/"to night" that ends the command or a clause is the day)
    (r"\bto morrow\b", "tomorrow"),
    (
        r"\bto (day|night)\b"
        r"(?=$| (?:at|by|for|on|in|from|of|and|please|then|instead|i|we|it|so|or|but|too|as|with|is|are)\b)",
        r"to\1",
    ),
    (r"\b(?:two|too)(?= (?:the|my|our|me|him|her|them)\b)", "to"),
    (r"\bnext weak\b", "next week"),
    (r"^(?:and|an) do(?= (?:the last|that|it)\b|$)", "undo"),  # "And do the last change."
    (r"\bfour(?= (?:the|my|our)\b)", "for"),
    # "call the venue manager my Thursday": a date at the very end ("my Thursday standup" is someone's title)
    (r"\bmy (?=(?:next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|week|month)$)", "by "),
    (r"\bmy (?=(?:tomorrow|today|tonight)$)", "by "),
]
#: After "'s", the words that make it an "is" ("the filament's urgent now").
_IS_WORDS = (
    r"finished|complete|completed|sorted|ready|over|up|due|overdue|urgent|high|low|medium|normal|important|"
    r"not|no|now|on|off|back|still|the|a|an|in|at|for|broken|open|with|made|gone|done|paid|sent|set|put|cut|all|"
    r"nearly|almost"
)
#: After "'s", the -ing words that make it an "is" ("Zoe's taking over the backups"); a possessive before other
#: -ing words is left alone ("add Dan's meeting notes").
_IS_DOING = r"taking|doing|handling|covering|sorting|dealing|looking after|working on|going to|running|owning"
#: Words a stutter doubles that a title never does ("very very" may be a title's).
_DOUBLED = r"make|add|the|a|to|it|assign|delete|mark|tick|put|move|set|and|i|uh|um|please|can|you|remind|change"
_ENDINGS = (
    r"please|thanks|thank you|cheers|would you|could you|can you|will you|ta|if you can|if possible|for now|"
    r"actually|instead|while you're at it|while you are at it|when you can|if you don't mind|right now"
)


def normalize(transcript: str) -> str:
    """Lower case, "todo" spelled one way, punctuation gone, polite filler trimmed."""
    text = transcript.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\bto[\s-]?dos?\b|\bto do's\b", "todo", text)
    text = re.sub(r"\btodos\b", "todo", text)
    text = re.sub(r"\b(?:two|2)[\s-]?(?:dos|do's|does)\b", "todo", text)
    text = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1th", text)
    text = re.sub(r"(?<!\d)[.,!?;:\"()\[\]](?!\d)|[.,!?;:\"()\[\]]", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes around a title, not the one in "what's"
    text = re.sub(r"\s+", " ", text).strip(" -")
    text = re.sub(r"(?:^|\s)(?:um+|uh+|erm|er|hmm+|mm+|ah)(?=\s|$)", " ", text)  # hesitations anywhere
    text = re.sub(r"\s+", " ", text).strip()
    for wrong, right in _SOUND_ALIKE:
        text = re.sub(wrong, right, text)
    text = re.sub(rf"\b({_DOUBLED}) \1\b", r"\1", text)  # a stutter: "make make it urgent"
    text = re.sub(r"\b(?:not |the )?a do\b", "the todo", text)  # Whisper's hearing of a quick "the to-do"
    text = re.sub(r"\bwhats\b|^work's\b", "what's", text)
    text = re.sub(rf"'s (?=(?:{_IS_WORDS}|{_IS_DOING})\b)", " is ", text)  # "the filament's high priority now"
    text = re.sub(r"'s (?=been\b|got\b|\w+ed\b|written\b|done\b|sent\b|paid\b)", " has ", text)  # "Dan's chased it"
    text = re.sub(r"^(?:a sign|i sign|a signed|assigned|sign)\b", "assign", text)
    text = re.sub(r"\b(?:a sign|a signed)(?= (?:it )?to\b)", "assign", text)
    text = re.sub(r"\bwhat is\b", "what's", text)
    while True:
        trimmed = re.sub(rf"^(?:{_OPENINGS})\s+", "", text)
        trimmed = re.sub(rf"\s+(?:{_ENDINGS})$", "", trimmed)
        if trimmed == text:
            return text
        text = trimmed


def yes_or_no(text: str) -> str | None:
    """ "confirm" or "cancel" for a short answer (normalised text), None for anything else."""
    words = text.split()
    if not words or len(words) > 4:
        return None
    if text in YES_PHRASES or words[0] in YES:
        return "confirm"
    if text in NO_PHRASES or words[0] in NO:
        return "cancel"
    return None
