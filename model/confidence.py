"""How sure the emotion model is, in bands: the one definition the bot's wording and the evaluation's table share.

The model's probabilities are temperature-calibrated, so a confidence of 0.6 means right about 6 times in 10.
Chance level over 7 emotions is 0.14.
"""

CANT_TELL_BELOW = 0.30  # below: the bot says honestly that it cannot tell, and asks the user instead of guessing
UNSURE_BELOW = 0.55  # below: the bot names the runner-up too
FAIRLY_SURE_FROM = 0.70  # "I think so" below, "I'm fairly sure" from here
QUITE_SURE_FROM = 0.85  # "I'm quite sure" from here
CONFIDENCE_BANDS = (0.0, CANT_TELL_BELOW, UNSURE_BELOW, FAIRLY_SURE_FROM, QUITE_SURE_FROM, 1.0)
