"""Import a fake reference-tutorial checkpoint and check it captions exactly like the original.

The classes below stand in for the tutorial's ``models`` module (written here from its
documented architecture): they are pickled as ``models.Encoder`` etc., exactly as the
tutorial's ``torch.save`` of whole module objects does, and are also the reference
implementation the converted model is compared with.
"""

from __future__ import annotations

import json
import sys
import types
import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from annotator.cli import main
from annotator.core.errors import ModelLoadError
from annotator.model.captioner import Captioner
from annotator.model.checkpoint import load_checkpoint
from annotator.model.config import IMAGENET_MEAN, ModelConfig
from annotator.model.preprocess import load_image
from annotator.train import import_checkpoint as importer

GRID = 14


class Encoder(nn.Module):
    """ResNet minus its last two children, pooled to a fixed grid, as in the tutorial."""

    def __init__(self, net: nn.Module, encoded_image_size: int = GRID) -> None:
        super().__init__()
        self.enc_image_size = encoded_image_size
        self.resnet = nn.Sequential(*list(net.children())[:-2])
        self.adaptive_pool = nn.AdaptiveAvgPool2d((encoded_image_size, encoded_image_size))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.adaptive_pool(self.resnet(images))  # (B, 2048, G, G)
        return out.permute(0, 2, 3, 1)  # (B, G, G, 2048)


class Attention(nn.Module):
    """Additive attention written the tutorial's way (weighted sum, not bmm)."""

    def __init__(self, encoder_dim: int, decoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)

    def forward(self, enc: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        att = self.full_att(torch.relu(self.encoder_att(enc) + self.decoder_att(h).unsqueeze(1)))
        alpha = torch.softmax(att.squeeze(2), dim=1)  # (B, P)
        return (enc * alpha.unsqueeze(2)).sum(dim=1), alpha  # (B, E), (B, P)


class DecoderWithAttention(nn.Module):
    """The tutorial's decoder layout; ``step`` is one teacher-forced/greedy LSTM step."""

    def __init__(
        self,
        attention_dim: int,
        embed_dim: int,
        decoder_dim: int,
        vocab_size: int,
        encoder_dim: int = 2048,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.attention = Attention(encoder_dim, decoder_dim, attention_dim)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def init_hidden_state(self, enc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = enc.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)

    def step(
        self, words: torch.Tensor, h: torch.Tensor, c: torch.Tensor, enc: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        awe, _ = self.attention(enc, h)
        awe = torch.sigmoid(self.f_beta(h)) * awe
        h, c = self.decode_step(torch.cat([self.embedding(words), awe], dim=1), (h, c))
        return self.fc(self.dropout(h)), h, c


for _cls in (Encoder, Attention, DecoderWithAttention):
    _cls.__module__ = "models"  # pickle them as the tutorial's classes


def _save_as_tutorial(obj: object, path: Path, **kw: object) -> Path:
    """``torch.save`` with a throwaway ``models`` module in place, as the tutorial's."""
    fake = types.ModuleType("models")
    fake.Encoder, fake.Attention = Encoder, Attention  # type: ignore[attr-defined]
    fake.DecoderWithAttention = DecoderWithAttention  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Couldn't retrieve source code")  # legacy format
        mp.setitem(sys.modules, "models", fake)
        torch.save(obj, path, **kw)
    return path


def _word_map(words: Sequence[str]) -> dict[str, int]:
    """Return the tutorial's word map of ``words``: ids from 1 in order, specials last."""
    wm = {w: i + 1 for i, w in enumerate(words)}  # the tutorial's order
    for special in ("<unk>", "<start>", "<end>"):
        wm[special] = len(wm) + 1
    wm["<pad>"] = 0
    return wm


def _small_decoder(vocab_size: int, seed: int = 0) -> DecoderWithAttention:
    torch.manual_seed(seed)
    return DecoderWithAttention(
        attention_dim=16,
        embed_dim=12,
        decoder_dim=20,
        vocab_size=vocab_size,
        dropout=0.3,
    ).eval()


class Ref(types.SimpleNamespace):
    encoder: Encoder
    decoder: DecoderWithAttention
    path: Path
    word_map: Path
    words: dict[str, int]
    converted: Path


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory, tiny_words: tuple[str, ...]) -> Ref:
    """Write a tutorial-style checkpoint (random ResNet-50) and convert it once."""
    d = tmp_path_factory.mktemp("tutorial")
    torch.manual_seed(0)
    enc = Encoder(torchvision.models.resnet50(weights=None)).eval()
    words = _word_map(tiny_words)
    dec = _small_decoder(len(words))
    word_map = d / "WORDMAP_fake.json"
    word_map.write_text(json.dumps(words))
    path = _save_as_tutorial(
        {
            "epoch": 7,
            "epochs_since_improvement": 0,
            "bleu-4": 0.213,
            "encoder": enc,
            "decoder": dec,
            "encoder_optimizer": None,
            "decoder_optimizer": torch.optim.Adam(dec.parameters(), lr=4e-4),
        },
        d / "BEST_checkpoint_fake.pth.tar",
    )
    converted = d / "imported.safetensors"
    rc = main(
        [
            "import-checkpoint",
            "--decoder-checkpoint",
            str(path),
            "--word-map",
            str(word_map),
            "--out",
            str(converted),
            "--trust-pickle",
        ]
    )
    assert rc == 0
    return Ref(
        encoder=enc, decoder=dec, path=path, word_map=word_map, words=words, converted=converted
    )


def _reference_greedy(
    dec: DecoderWithAttention, enc: torch.Tensor, start: int, end: int, max_len: int
) -> list[list[int]]:
    """Greedy captions with the tutorial's modules (``<end>`` barred at the first step)."""
    out = []
    for i in range(enc.size(0)):
        feats = enc[i : i + 1]
        h, c = dec.init_hidden_state(feats)
        word, tokens = torch.tensor([start]), []
        for t in range(max_len):
            logits, h, c = dec.step(word, h, c, feats)
            logp = torch.log_softmax(logits, dim=1)
            if t == 0:
                logp[:, end] = float("-inf")
            word = logp.argmax(dim=1)
            tokens.append(int(word))
            if tokens[-1] == end:
                break
        out.append(tokens)
    return out


@torch.inference_mode()
def test_imported_model_captions_like_the_original(ref: Ref, samples: list[Path]) -> None:
    cap = Captioner.load(ref.converted, "cpu")
    cfg = cap.ckpt.config
    assert (cfg.encoder, cfg.encoder_grid, cfg.encoder_dim) == ("resnet50", (GRID, GRID), 2048)
    assert (cfg.embed_dim, cfg.attention_dim, cfg.decoder_dim, cfg.dropout) == (12, 16, 20, 0.3)
    assert cap.preprocess.image_size == 256 and cap.preprocess.mean == IMAGENET_MEAN
    assert cap.vocab.itos[0] == "<pad>" and cap.vocab.itos[1:4] == list(ref.words)[:3]
    assert cap.ckpt.training["reference"]["bleu-4"] == pytest.approx(0.213)

    photo = load_image(samples[0], cap.preprocess).tensor  # (3, 256, 256)
    torch.manual_seed(1)
    images = torch.stack([photo, torch.randn(3, 256, 256)])
    ours = cap.encode(images)  # (2, 196, 2048)
    theirs = ref.encoder(images).reshape(2, GRID * GRID, 2048)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)

    # Teacher-forced scores over a caption.
    wm = ref.words
    caption = torch.tensor([[wm["<start>"], wm["a"], wm["dog"], wm["on"], wm["grass"]]] * 2)
    scores, _ = cap.decoder(theirs, caption)  # (2, 4, V)
    h, c = ref.decoder.init_hidden_state(theirs)
    expected = []
    for t in range(caption.size(1) - 1):
        logits, h, c = ref.decoder.step(caption[:, t], h, c, theirs)
        expected.append(logits)
    torch.testing.assert_close(scores, torch.stack(expected, 1), rtol=1e-4, atol=1e-4)

    # Greedy captions, and the photo file path through the converted preprocessing.
    plain = {"guidance": "none", "repetition": False}  # the reference's own search
    results = cap.caption_features(theirs, beam_size=1, **plain)
    greedy = _reference_greedy(ref.decoder, theirs, wm["<start>"], wm["<end>"], cfg.max_caption_len)
    assert [r.words for r in results] == [tuple(cap.vocab.decode(g)) for g in greedy]
    assert all(len(g) > 5 for g in greedy)  # long enough to compare many steps
    assert results[0].attention.shape[1:] == (GRID, GRID)
    from_file = cap.caption_files([samples[0]], beam_size=1, **plain)[0]
    assert from_file.words == results[0].words


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[()]]:  # runs on unpickling
        return (self.marker.touch, ())


def test_refuses_a_pickle_without_trust_and_runs_nothing(
    ref: Ref, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    for legacy in (False, True):
        # legacy: the tutorial's era (torch < 1.6) wrote the pre-zip format
        path = _save_as_tutorial(
            {
                "epoch": 1,
                "decoder": _small_decoder(len(ref.words)),
                "encoder": None,
                "evil": _Evil(marker),
            },
            tmp_path / f"evil-{legacy}.pth.tar",
            _use_new_zipfile_serialization=not legacy,
        )
        out = tmp_path / "out.safetensors"
        rc = main(
            [
                "import-checkpoint",
                "--decoder-checkpoint",
                str(path),
                "--word-map",
                str(ref.word_map),
                "--out",
                str(out),
            ]
        )
        err = capsys.readouterr().err
        assert rc == 2 and str(path) in err
        assert "pickle" in err and "arbitrary code" in err and "--trust-pickle" in err
        assert "trust" in err.replace("--trust-pickle", "")
        assert not marker.exists(), "refusing the file executed pickled code"
        assert not out.exists()
    with pytest.raises(ModelLoadError, match=r"models\.DecoderWithAttention"):
        importer.read_reference(ref.path)
    importer.read_reference(path, trust_pickle=True)  # what the refusal prevented:
    assert marker.exists(), "the test's payload should run once the file is trusted"


def test_legacy_format_tutorial_checkpoint_unpickles_with_trust(
    tmp_path: Path, tiny_words: tuple[str, ...]
) -> None:
    dec = _small_decoder(len(_word_map(tiny_words)), seed=3)
    path = _save_as_tutorial(
        {"epoch": 2, "bleu-4": 0.1, "decoder": dec, "encoder": None},
        tmp_path / "old.pth.tar",
        _use_new_zipfile_serialization=False,
    )
    got = importer.read_reference(path, trust_pickle=True)
    assert got.pickled and got.encoder_state is None and got.dropout == pytest.approx(0.3)
    assert got.info == {"epoch": 2, "bleu-4": 0.1}
    assert got.decoder_state.keys() == dec.state_dict().keys()
    for k, v in dec.state_dict().items():
        assert torch.equal(got.decoder_state[k], v)


def test_plain_state_dict_needs_no_trust(ref: Ref, tmp_path: Path) -> None:
    plain = tmp_path / "weights.pth"
    torch.save({"encoder": ref.encoder.state_dict(), "decoder": ref.decoder.state_dict()}, plain)
    out = tmp_path / "plain.safetensors"
    result = importer.import_checkpoint(plain, ref.word_map, out, name="plain")
    assert not result.pickled and "from the checkpoint" in result.encoder_weights
    a, b = load_checkpoint(out), load_checkpoint(ref.converted)
    assert a.name == "plain" and a.config.dropout == 0.5  # a state dict does not say
    assert a.config.encoder_grid == b.config.encoder_grid == (GRID, GRID)
    assert a.vocab == b.vocab and a.preprocess == b.preprocess
    for mine, theirs in ((a.decoder_state, b.decoder_state), (a.encoder_state, b.encoder_state)):
        assert mine is not None and theirs is not None and mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_decoder_only_state_dict_fetches_torchvision_weights_or_says_why(
    ref: Ref, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "decoder.pth"
    torch.save(ref.decoder.state_dict(), plain)

    def offline(*a: object, **k: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(ModelLoadError, match=r"no encoder weights.*IMAGENET1K_V1.*resnet101"):
        importer.import_checkpoint(plain, ref.word_map, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_word_map_must_match_the_embedding(ref: Ref, tmp_path: Path) -> None:
    plain = tmp_path / "decoder.pth"
    torch.save(_small_decoder(len(ref.words) + 1).state_dict(), plain)
    with pytest.raises(ModelLoadError, match=r"word map has \d+ words but .* \d+ rows"):
        importer.import_checkpoint(
            plain, ref.word_map, tmp_path / "x.safetensors", encoder="resnet50"
        )
    bad = tmp_path / "WORDMAP_bad.json"
    bad.write_text('{"<pad>": 0, "<start>": 1, "<end>": 1}')
    with pytest.raises(ModelLoadError, match="each used once"):
        importer.read_word_map(bad)


@pytest.mark.parametrize(
    ("blocks", "name"), [(6, "resnet50"), (23, "resnet101"), (36, "resnet152")]
)
def test_resnet_depth_is_read_from_layer3(blocks: int, name: str) -> None:
    state = {f"trunk.6.{i}.conv1.weight": torch.zeros(1) for i in range(blocks)}
    state["trunk.0.weight"] = torch.zeros(1)
    assert importer.infer_resnet(state) == name


def test_existing_checkpoints_load_unchanged(tiny_model: Path) -> None:
    ckpt = load_checkpoint(tiny_model)
    assert ckpt.config.encoder_grid is None
    cap = Captioner(ckpt, "cpu")
    assert isinstance(cap.encoder.pool, nn.Identity) and cap.encoder.grid == (7, 7)
    old = {k: v for k, v in ckpt.config.to_dict().items() if k != "encoder_grid"}
    assert ModelConfig.from_dict(old) == ckpt.config
    pooled = ModelConfig.from_dict({**old, "encoder_grid": [14, 14]})
    assert pooled.encoder_grid == (14, 14) and ModelConfig.from_dict(pooled.to_dict()) == pooled
