"""VOICEVOX's engine API over the Japanese voices (docs/voicevox.md): `query` turns an
AudioQuery into this project's requests and back (no I/O), `plan` cuts a query into one request
per sentence, `face` runs them and measures each mora's pitch on the audio (`pitch`), `routes`
answers VOICEVOX's routes and `user_dict` its user dictionary."""
