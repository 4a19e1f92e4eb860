"""``creditbank log verify-consistency OLD NEW``: anyone holding an old checkpoint checks a new one with
only the log's public key (and the public tiles)."""

from __future__ import annotations

from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.kit import signednote as sn
from tests.translog.test_tiles import _append


def test_a_kept_checkpoint_is_checked_against_the_live_one(sqlite_settings, tmp_path, live):
    with live(sqlite_settings) as (base, app, db):
        _append(db, 0, 300)
        old = app.state.log.checkpoint().note
        (tmp_path / "old.txt").write_text(old)
        _append(db, 300, 20)
        app.state.log.checkpoint()
        app.state.log.latest_view(fresh=True)
        vkey = app.state.log.verifiers()[0].vkey
        runner = CliRunner()
        ok = runner.invoke(
            cli, ["log", "verify-consistency", str(tmp_path / "old.txt"), base, "--log-key", vkey]
        )
        assert ok.exit_code == 0, ok.output
        assert "CONSISTENT" in ok.output and "300 → 320" in ok.output

        # A checkpoint of another history, signed with the same key (a split view shown to someone else):
        private = app.state.log.keys.private_key(app.state.log.keys.active().kid)
        checkpoint = sn.parse_checkpoint(sn.split(old)[0])
        body = sn.Checkpoint(checkpoint.origin, 310, bytes(32)).text
        (tmp_path / "forked.txt").write_text(sn.join(body, [sn.sign(body, checkpoint.origin, private)]))
        bad = runner.invoke(
            cli,
            [
                "log",
                "verify-consistency",
                str(tmp_path / "old.txt"),
                str(tmp_path / "forked.txt"),
                "--log-key",
                vkey,
                "--url",
                base,
            ],
        )
        assert bad.exit_code == 1 and "NOT CONSISTENT" in bad.output

        stranger = runner.invoke(
            cli,
            [
                "log",
                "verify-consistency",
                str(tmp_path / "old.txt"),
                base,
                "--log-key",
                sn.Verifier(
                    checkpoint.origin,
                    __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"])
                    .Ed25519PrivateKey.generate()
                    .public_key(),
                ).vkey,
            ],
        )
        assert stranger.exit_code == 2
