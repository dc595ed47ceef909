import pytest

from safecoder_lsp import llmls


def test_camel_case_params_as_llm_vscode_sends_them():
    p = llmls.parse_get_completions(
        {
            "textDocument": {"uri": "file:///a.py"},
            "position": {"line": 3, "character": 7},
            "model": "bigcode/starcoder",
            "backend": "huggingface",
            "url": "https://example.invalid",
            "tokensToClear": ["<|endoftext|>"],
            "apiToken": "hf_secret",
            "fim": {"enabled": True, "prefix": "<fim_prefix>"},
            "contextWindow": 8192,
            "ide": "vscode",
            "requestBody": {"parameters": {"max_new_tokens": 60}},
        }
    )
    assert (p.uri, p.line, p.character) == ("file:///a.py", 3, 7)
    assert p.tokens_to_clear == ("<|endoftext|>",)
    assert p.api_token_sent and p.backend == "huggingface" and p.context_window == 8192


def test_snake_case_params_are_accepted_too():
    p = llmls.parse_get_completions(
        {
            "text_document": {"uri": "u"},
            "position": {"line": 0, "character": 0},
            "tokens_to_clear": ["x"],
        }
    )
    assert p.uri == "u" and p.tokens_to_clear == ("x",)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (None, "params must be an object"),
        ({"position": {"line": 0, "character": 0}}, "textDocument.uri"),
        ({"textDocument": {"uri": "u"}}, "position is missing"),
        (
            {"textDocument": {"uri": "u"}, "position": {"line": "1", "character": 0}},
            "position.line",
        ),
        (
            {
                "textDocument": {"uri": "u"},
                "position": {"line": 0, "character": 0},
                "tokensToClear": "x",
            },
            "tokensToClear",
        ),
    ],
)
def test_bad_params_give_clear_errors(params, message):
    with pytest.raises(llmls.LlmLsParamsError, match=message):
        llmls.parse_get_completions(params)


def test_request_id_both_spellings_and_result_shape():
    assert llmls.request_id_of({"requestId": "a"}) == "a"
    assert llmls.request_id_of({"request_id": "b"}) == "b"
    with pytest.raises(llmls.LlmLsParamsError):
        llmls.request_id_of({})
    assert llmls.completions_result("r", ["x"]) == {
        "request_id": "r",
        "completions": [{"generated_text": "x"}],
    }
    assert llmls.clear_tokens("a<|endoftext|>", ("<|endoftext|>",)) == "a"
