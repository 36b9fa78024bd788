from kubedefis.commands.cli import main

raise SystemExit(main())
