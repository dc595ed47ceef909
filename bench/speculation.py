"""How many prompt-lookup draft tokens greedy decoding would accept on the endpoint
benchmark's workload: an offline simulation on the real greedy answers.

For each request of ``bench.endpoint``'s typing workload the default model's greedy
answer is generated once; then, token by token, a draft of ``k`` tokens is taken from
the context (prompt + answer so far) after the latest earlier occurrence of its last
``n`` tokens, and the run of draft tokens equal to the real answer is counted. Tokens
per step = answer tokens / (draft-and-verify steps needed). Speculation pays only if
that beats the extra cost of the wider decode steps (bench/RESULTS.md gives that cost).
Usage: python -m bench.speculation [--problems N] [--requests N]
"""

from __future__ import annotations

import argparse

from bench.endpoint import MAX_TOKENS, humaneval_problems, typing_prompts


def draft(context: list[int], n: int, k: int) -> list[int]:
    """The ``k`` tokens after the latest earlier occurrence of the last ``n`` tokens."""
    if len(context) <= n:
        return []
    tail = context[-n:]
    for i in range(len(context) - n - 1, -1, -1):
        if context[i : i + n] == tail:
            return context[i + n : i + n + k]
    return []


def steps_needed(prompt: list[int], answer: list[int], n: int, k: int) -> int:
    """Decode steps to produce ``answer`` when each step verifies a draft of ``k``."""
    steps = i = 0
    while i < len(answer):
        proposal = draft(prompt + answer[:i], n, k)
        accepted = 0
        while (
            accepted < len(proposal)
            and i + accepted < len(answer)
            and proposal[accepted] == answer[i + accepted]
        ):
            accepted += 1
        i += accepted + 1  # the accepted drafts, then the model's own next token
        steps += 1
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speculation")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--requests", type=int, default=12, help="per problem")
    args = parser.parse_args(argv)
    from bench import model_path as default_model_path
    from engine.base import GenerationRequest, generate_text
    from engine.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(default_model_path(), n_ctx=4096)
    llm = engine._llm
    pairs = []
    for problem in humaneval_problems()[: args.problems]:
        for prompt in typing_prompts(problem, args.requests)[1:]:
            request = GenerationRequest(prompt, max_tokens=MAX_TOKENS, stop=("\n",))
            text = generate_text(engine, request)
            prompt_tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            answer = llm.tokenize(text.encode(), add_bos=False, special=False) if text else []
            pairs.append((prompt_tokens, answer))
    engine.close()
    total = sum(len(a) for _, a in pairs)
    print(f"{len(pairs)} requests, {total} generated tokens")
    for n in (1, 2, 3):
        for k in (3, 5):
            steps = sum(steps_needed(p, a, n, k) for p, a in pairs)
            print(f"n={n} k={k}: {total / max(1, steps):.2f} tokens a step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
