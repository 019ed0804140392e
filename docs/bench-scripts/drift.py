"""Drift of the --quantize modes vs float32 (first-step logits, greedy codes): python drift.py MODEL_DIR FRAMES."""
import sys, torch, json
torch.set_num_threads(2)
from qwentts_cli.runtime import Synthesizer
from qwentts_cli.generate.prompt import build_prompt
model = sys.argv[1]; frames = int(sys.argv[2])
text = "Ниже представлен план цикла статей о том, как создать собственную модель."
def measure(s):
    ids = torch.tensor([s.prompt_ids(text)])
    req = s.resolve(language="russian")
    p = build_prompt(s.talker, s.config, ids, req.language_id, None)  # no speaker row, as measured
    s.talker.model.setup_caches(p.embeds.shape[1] + 1, torch.float32, torch.device("cpu"))
    with torch.inference_mode():
        logits = s.talker(p.embeds, 0)[1][0]
    codes = torch.stack(list(s.frames(text, language="russian", sampling=s.greedy(), max_frames=frames, ignore_eos=True)))
    return logits, codes
ref = Synthesizer.from_pretrained(model)
rl, rc = measure(ref)
del ref
out = {}
for mode in ("int8", "int8-weight"):
    s = Synthesizer.from_pretrained(model, quantize=mode)
    l, c = measure(s)
    n = min(len(c), len(rc))
    first_diff = next((i for i in range(n) if not torch.equal(c[i], rc[i])), n)
    out[mode] = dict(
        max_logit_diff=float((l - rl).abs().max()), logit_std=float(rl.std()),
        same_argmax=bool(l.argmax() == rl.argmax()),
        codes_equal_fraction=float((c[:n] == rc[:n]).float().mean()),
        codebook0_equal_fraction=float((c[:n, 0] == rc[:n, 0]).float().mean()),
        identical_leading_frames=first_diff, frames=n)
    del s
print(json.dumps(out, indent=1))
