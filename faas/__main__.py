from faas.cli import main

raise SystemExit(main())
