from musktracker.sentiment.preprocess import (
    CLASSIC_PREPROCESS,
    TRANSFORMER_PREPROCESS,
    PreprocessConfig,
    preprocess,
)


def test_mentions_links_emoji_and_whitespace_are_normalised():
    text = "@SpaceX   launch at https://t.co/abc today 🚀  www.x.com/page"
    assert preprocess(text) == "@user launch at http today rocket http"


def test_email_addresses_are_not_mentions():
    assert preprocess("write to me@example.com") == "write to me@example.com"


def test_hashtag_modes():
    text = "go #Tesla now"
    assert preprocess(text, PreprocessConfig(hashtags="strip")) == "go Tesla now"
    assert preprocess(text, PreprocessConfig(hashtags="keep")) == "go #Tesla now"
    assert preprocess(text, PreprocessConfig(hashtags="remove")) == "go now"


def test_transformer_keeps_case_classic_lowercases():
    assert preprocess("GREAT Day", TRANSFORMER_PREPROCESS) == "GREAT Day"
    assert preprocess("GREAT Day", CLASSIC_PREPROCESS) == "great day"


def test_stop_words_removed_but_negations_kept():
    config = PreprocessConfig(lowercase=True, remove_stop_words=True)
    assert preprocess("This is not the best of the movies", config) == "not best movies"


def test_skin_tone_emoji_become_words():
    assert preprocess("ok 👍🏽") == "ok thumbs up medium skin tone"


def test_config_round_trips_through_dict():
    config = PreprocessConfig(hashtags="remove", lowercase=True)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
