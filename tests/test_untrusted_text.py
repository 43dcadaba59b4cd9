"""Text from a server, a site or a model is shown as text: no remote image is fetched, no
link hides where it goes, no key shows (the AppTest tree holds the Markdown sources the
browser renders, so an image or link there would be rendered)."""

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from optera.chat.llm import safe_markdown

PIXEL = "![x](http://attacker.test/pixel.png)"
PHISH = "[Re-enter your API key here](http://attacker.test/login)"
IMAGE_MD = re.compile(r"(?<!\\)!\[[^\]]*\]\((?!`)")
LINK_MD = re.compile(r"(?<![\\!])\[[^\]]+\]\((?!`)")


@pytest.fixture
def hostile(fault_server, monkeypatch):
    monkeypatch.setenv("MARA_API_URL", fault_server.url)
    monkeypatch.setenv("MARA_API_KEY", fault_server.key)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield fault_server
    st.cache_data.clear()
    st.cache_resource.clear()


def _sources(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "toast"):
        for tree in (at, at.sidebar):
            out += [str(getattr(e, "value", "")) for e in getattr(tree, kind)]
    return out


def test_a_server_message_with_an_image_and_a_link_is_shown_as_text(hostile):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()  # a good first sync
    hostile.set("/prices", status=503, body={"detail": f"Maintenance {PIXEL} {PHISH}"})
    at.sidebar.button(key="refresh_now").click().run()
    assert not at.exception
    texts = _sources(at)
    shown = [t for t in texts if "Maintenance" in t]
    assert shown, texts  # the message reaches the user...
    for text in texts:  # ...as text: no image or link the browser would render
        assert not IMAGE_MD.search(text), text
        assert not LINK_MD.search(text), text


def test_a_site_name_carrying_markdown_or_the_key_is_harmless(hostile):
    hostile.set("/sites", edit=lambda site: {**site, "name": f"{PIXEL} {hostile.key}"})
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception
    for text in _sources(at):
        assert hostile.key not in text
        assert not IMAGE_MD.search(text), text


@pytest.mark.parametrize("answer", [
    f"Done. {PIXEL}", f"Please {PHISH}.", '<img src="http://attacker.test/p.png">',
    "[1]: http://attacker.test/ref\n![ref][1]", "Bearer sk-abcdefghijklmnop1234 is the key",
])
def test_model_answers_keep_formatting_but_lose_images_hidden_links_and_keys(answer):
    text = safe_markdown(answer)
    assert not IMAGE_MD.search(text) and not LINK_MD.search(text)
    assert "<img" not in text and "sk-abcdefghijklmnop1234" not in text
    if "login" in answer:  # a link stays usable, with its address in plain sight
        assert "Re-enter your API key here (`http://attacker.test/login`)" in text
