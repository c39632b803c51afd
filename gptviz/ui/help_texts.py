"""One paragraph per panel: what am I looking at? Written for a student who has read one GPT explainer.

Shown as each dock's tooltip (its title bar and tab) and under Help ▸ What am I looking at?
"""
from __future__ import annotations

import html

HELP = {
    "Prompt": (
        "The text the model reads. Every edit re-runs the model (only from the first changed token on) and "
        "updates every panel. Text the model generated for you has a light green background until you edit it, "
        "so you can tell your words from the model's."),
    "Token splits": (
        "The model never sees letters: the tokenizer cuts the prompt into pieces (tokens), one chip each, with "
        "its id in the vocabulary below it. The chip colours alternate only so that neighbours are easy to "
        "tell apart. ␣ is a leading space, ↵ a newline, ⇥ a tab; \\x.. pieces are parts of one UTF-8 "
        "character. The counter shows how much of the context window (the most tokens the model can read) "
        "the prompt uses."),
    "Embedding and position norms": (
        "Each token id is looked up in a table of learned vectors (the token embedding); GPT-2-style models "
        "add a second learned vector for the position. The x axis is the position in the prompt (token "
        "labels below), the y axis the length (L2 norm) of each vector: blue the token embedding, orange "
        "the position embedding, green their sum, which is what the first block reads."),
    "Attention": (
        "One head of one layer: how much each token (a row, the query) looks at each earlier token (a "
        "column, the key) when it builds its next representation. Rows are the softmax of query·key "
        "scores, so each row sums to 1; the colour is that weight, dark 0 to yellow 1. The grey triangle is "
        "the causal mask: a token cannot look at tokens after it. Arrows change head and layer."),
    "Next token": (
        "What the model predicts comes after the last token: the top-k tokens on the y axis, their "
        "probability on the x axis (the softmax of the final logits divided by the temperature; 0 means "
        "always take the most likely). Click a bar to append that token, or Generate to sample several "
        "with top-k / top-p filtering. With heads or MLPs ablated (right-click one; the Ablations menu lists "
        "them) the bars are the ablated model's, and Δlog p after each is its change against the clean model."),
    "All heads": (
        "Every attention head at once: one thumbnail per head, rows are layers (y axis, first layer at the "
        "top), columns are heads (x axis). Each thumbnail is a small version of the Attention panel "
        "(queries down, keys across), coloured dark to yellow and scaled to its own maximum; grey is the "
        "causal mask. Badges mark heads that mostly look at the previous token (P), at the token after an "
        "earlier copy of the current one (I, induction) or at the first token (S, a sink). Click one to "
        "show it large."),
    "Head statistics": (
        "A table with one row per head (layer, head) and columns that score what the head does over this "
        "prompt: prev-token is its average attention on the previous token, induction on the token that "
        "followed an earlier occurrence of the current token, first-token on position 0, and entropy (in "
        "nats) how spread out its attention is (0 = one token, higher = many). Click a column to sort."),
    "Logit lens": (
        "What the model would predict if it stopped early: the residual stream after the embedding and "
        "after every block (rows, y axis) is put through the final LayerNorm and the unembedding, at each "
        "of the last positions (columns, x axis: the input token; the guess is for the token after it). "
        "Each cell shows the top guess, its colour that guess's probability (dark low, yellow high). The "
        "last row is the model's real prediction."),
    "Embedding geometry": (
        "The learned position embeddings on their own. Top: the length (L2 norm, log-scale y axis) of each "
        "position's vector (orange; x axis the position), against dashed lines for the median token "
        "embedding (blue), √d_model times that (purple, as the original Transformer scaled it) and the "
        "norm of its fixed sinusoidal encoding (green). Bottom: the cosine similarity of every pair of "
        "positions (both axes are positions; colour from −1 blue through white to +1 red): a red band "
        "along the diagonal means nearby positions have similar vectors."),
    "Residual stream": (
        "The residual stream is the vector every block reads from and adds to. Top map: its length (L2 "
        "norm) after the embedding and after each block (rows, y axis) at every position (columns, x axis). "
        "The other maps show the length of what each block's attention and each block's MLP added. Colour "
        "is the norm, dark small to yellow large, each map scaled to its own maximum."),
    "Architecture": (
        "The loaded model drawn as the path the data takes, top to bottom: token and position embeddings, "
        "then N identical blocks (LayerNorm → attention → add back, LayerNorm → MLP → add back), the final "
        "LayerNorm and the unembedding to one score per vocabulary entry. Blue boxes hold learned weights "
        "(their parameter count is shown), grey boxes only compute; each box shows the shape of the tensor "
        "it produces for this prompt. Click a box to see its output."),
    "Logit attribution": (
        "Why this next token? The logit of a token is a dot product of the last position's residual stream "
        "(after the final layer norm, whose scale is frozen at its value for this prompt) with the token's "
        "unembedding row. The residual stream is a sum of what the embeddings, every attention head and every "
        "MLP wrote, so the logit splits into one number per part: the grid shows each head (layer rows, head "
        "columns), the bars each MLP, red raising the logit and blue lowering it. The caption shows that the "
        "parts add up to the logit exactly. Click a head to see its attention pattern; pick another candidate "
        "above. Models with the layer norm after each block (post-LN) cannot be split this way."),
    "Surprisal": (
        "How surprised the model was by each token of the prompt: one bar per token on the x axis (the first "
        "has no prefix, so no bar), its height on the y axis −log p in nats, where p is the probability the "
        "model gave that token after reading the tokens before it; 0 means certain, 2.3 is a 1-in-10 guess. "
        "The colour repeats the height, yellow the most surprising. Hover a bar to see the five tokens the "
        "model expected there instead."),
    "Timeline": (
        "How the model changed while it trained. Opening a folder of training snapshots (gptviz train "
        "--snapshot-every, Hugging Face checkpoint-*/ folders, nanoGPT checkpoints, Pythia's step revisions) "
        "shows this strip: the slider has one notch per snapshot; moving it loads that snapshot and every "
        "panel redraws for the same prompt. In both plots the x axis is the training step (one point per "
        "snapshot). Left, y axis: the loss on your prompt (blue; the mean −log p of each next token, in nats, "
        "lower is better), dashed grey the held-out loss recorded during training when the files have it. "
        "Right, y axis from 0 to 1: how much the best head attends to the previous token (orange) and, when "
        "the prompt repeats a token, to the token after its earlier copy (induction, purple); dashed the "
        "same two scores for the head selected in the Attention view. The black line marks the snapshot "
        "loaded; click a plot to jump to another. Scores are recomputed when you edit the prompt."),
    "Compare prompts": (
        "Type a second prompt B to compare with the main prompt A. The three maps are the selected head's "
        "attention for A, for B, and A − B over the positions they share (rows queries, columns keys; "
        "colour the weight, or for the difference red where A attends more and blue where B does). The "
        "table lists both next-token distributions side by side."),
    "Activation patching": (
        "Which parts of the computation carry the difference between prompt B and the main prompt A? Give "
        "both the same number of tokens (e.g. the same sentence with one name swapped) and a metric: the "
        "logit of one next token, or the difference of two (by default A's most likely next token minus "
        "B's). Run then reruns A once per cell with one piece taken from B's run: in the left map the "
        "residual stream entering a block (rows) at one position (columns, A's tokens), in the right map "
        "one head's output at every position (rows layers, columns heads). Colour is the metric then, "
        "normalised: 0 (white) is A's own value, 1 (red) B's, blue moves away from B; a red cell is a place "
        "where B's information alone is enough to make A answer as B does. A sweep takes one model run per "
        "cell; other panels wait until it ends or is cancelled, and editing a prompt cancels it."),
}


def text(title: str) -> str:
    return HELP.get(title, "")


def tooltip(title: str) -> str:
    """Rich text, so that Qt wraps the paragraph instead of drawing one screen-wide line."""
    body = text(title)
    return f"<qt><b>{html.escape(title)}</b><br>{html.escape(body)}</qt>" if body else ""
